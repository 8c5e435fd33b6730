#include "io/columnar_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <unordered_set>

namespace tideline::io {

namespace {

constexpr char kMagic[8] = {'T', 'L', 'C', 'O', 'L', 'F', '0', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 24;
constexpr uint64_t kAlign = 64;
constexpr uint32_t kFlagSorted = 1;
constexpr uint8_t kColHasValidity = 1;
constexpr uint64_t kMaxRows = 0x7fffffff;
constexpr uint32_t kMaxColumns = 4096;

// Serialized type codes (docs/formats/columnar.md): never change these numbers.
enum class FileType : uint8_t {
  kBool = 1,
  kI32 = 2,
  kI64 = 3,
  kU32 = 4,
  kU64 = 5,
  kF32 = 6,
  kF64 = 7,
  kString = 8,
  kTimestamp = 9,
  kDuration = 10,
  kDictString = 11,
};

bool to_file_type(TypeId id, FileType& out) {
  switch (id) {
    case TypeId::kBool:
      out = FileType::kBool;
      return true;
    case TypeId::kI32:
      out = FileType::kI32;
      return true;
    case TypeId::kI64:
      out = FileType::kI64;
      return true;
    case TypeId::kU32:
      out = FileType::kU32;
      return true;
    case TypeId::kU64:
      out = FileType::kU64;
      return true;
    case TypeId::kF32:
      out = FileType::kF32;
      return true;
    case TypeId::kF64:
      out = FileType::kF64;
      return true;
    case TypeId::kString:
      out = FileType::kString;
      return true;
    case TypeId::kTimestamp:
      out = FileType::kTimestamp;
      return true;
    case TypeId::kDuration:
      out = FileType::kDuration;
      return true;
    default:
      return false;
  }
}

bool from_file_type(uint8_t code, TypeId& out) {
  switch (code) {
    case 1:
      out = TypeId::kBool;
      return true;
    case 2:
      out = TypeId::kI32;
      return true;
    case 3:
      out = TypeId::kI64;
      return true;
    case 4:
      out = TypeId::kU32;
      return true;
    case 5:
      out = TypeId::kU64;
      return true;
    case 6:
      out = TypeId::kF32;
      return true;
    case 7:
      out = TypeId::kF64;
      return true;
    case 8:
      out = TypeId::kString;
      return true;
    case 9:
      out = TypeId::kTimestamp;
      return true;
    case 10:
      out = TypeId::kDuration;
      return true;
    case 11:
      out = TypeId::kString;
      return true;  // dictionary-encoded
    default:
      return false;
  }
}

uint64_t align_up(uint64_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

void put_u8(std::string& s, uint8_t v) {
  s.push_back(static_cast<char>(v));
}
void put_u16(std::string& s, uint16_t v) {
  for (int i = 0; i < 2; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
Status put_name(std::string& s, const std::string& name, const std::string& file) {
  if (name.size() > 0xffff) return invalid_argument(file + ": name longer than 65535 bytes");
  put_u16(s, static_cast<uint16_t>(name.size()));
  s += name;
  return {};
}

// One buffer to write: bytes owned elsewhere (`data`) or by `owned`.
struct OutBuffer {
  const void* data = nullptr;
  uint64_t size = 0;
  std::vector<uint8_t> owned;
};

}  // namespace

bool is_columnar_magic(std::span<const uint8_t> head) {
  return head.size() >= sizeof(kMagic) && std::memcmp(head.data(), kMagic, sizeof(kMagic)) == 0;
}

Status write_columnar(std::FILE* out, const Batch& batch, const ColumnarMeta& meta,
                      const std::string& name, std::span<const Column* const> dictionaries) {
  if (!dictionaries.empty() && dictionaries.size() != batch.columns.size())
    return invalid_argument(name + ": one dictionary entry per column expected");
  const uint64_t n = static_cast<uint64_t>(batch.num_rows);
  if (n > kMaxRows) return invalid_argument(name + ": more than 2^31-1 rows");
  if (!batch.schema || batch.schema->fields.size() != batch.columns.size())
    return invalid_argument(name + ": batch schema does not match its columns");
  if (batch.columns.size() > kMaxColumns) return invalid_argument(name + ": too many columns");
  const uint64_t words = (n + 63) / 64;
  // Collect buffers per column (validity first when present).
  std::vector<std::vector<OutBuffer>> bufs(batch.columns.size());
  std::vector<uint8_t> codes(batch.columns.size()), flags(batch.columns.size(), 0);
  for (size_t c = 0; c < batch.columns.size(); ++c) {
    const Column& col = batch.columns[c];
    const Column* dict = dictionaries.empty() ? nullptr : dictionaries[c];
    FileType ft;
    if (dict) {
      if (col.type_id() != TypeId::kU32 || dict->type_id() != TypeId::kString)
        return invalid_argument(name + ": column '" + batch.schema->fields[c].name +
                                "': a dictionary needs u32 indexes and string values");
      ft = FileType::kDictString;
    } else if (!to_file_type(col.type_id(), ft)) {
      return invalid_argument(fmt::format("{}: column '{}' has type {}, which .tlc cannot hold",
                                          name, batch.schema->fields[c].name,
                                          type_id_name(col.type_id())));
    }
    if (static_cast<uint64_t>(col.size()) != n)
      return invalid_argument(name + ": column '" + batch.schema->fields[c].name +
                              "' length differs from the batch");
    codes[c] = static_cast<uint8_t>(ft);
    if (!col.all_valid() && col.null_count() > 0) {
      flags[c] |= kColHasValidity;
      OutBuffer v;
      v.owned.resize(words * 8);
      auto* w = reinterpret_cast<uint64_t*>(v.owned.data());
      const auto& src = col.validity();
      size_t have = std::min<size_t>(src.size(), words);
      if (have) std::memcpy(w, src.data(), have * 8);
      if (n % 64 && have == words) w[words - 1] &= (uint64_t{1} << (n % 64)) - 1;
      v.data = v.owned.data();
      v.size = words * 8;
      bufs[c].push_back(std::move(v));
    }
    if (dict) {
      OutBuffer idx;
      idx.owned.resize(n * 4);
      auto* w = reinterpret_cast<uint32_t*>(idx.owned.data());
      const uint64_t k = static_cast<uint64_t>(dict->size());
      for (uint64_t i = 0; i < n; ++i) {
        int64_t v = col.ints()[i];
        if (v < 0 || static_cast<uint64_t>(v) >= k) {
          if (col.is_valid(static_cast<int64_t>(i)))
            return invalid_argument(
                fmt::format("{}: column '{}': index {} outside the {}-entry "
                            "dictionary",
                            name, batch.schema->fields[c].name, v, k));
          v = 0;
        }
        w[i] = static_cast<uint32_t>(v);
      }
      idx.data = idx.owned.data();
      idx.size = n * 4;
      bufs[c].push_back(std::move(idx));
      const auto& off = dict->offsets();
      const uint32_t base = off[0];
      OutBuffer o;
      o.owned.resize((k + 1) * 4);
      auto* ow = reinterpret_cast<uint32_t*>(o.owned.data());
      for (uint64_t i = 0; i <= k; ++i) ow[i] = off[i] - base;
      o.data = o.owned.data();
      o.size = (k + 1) * 4;
      bufs[c].push_back(std::move(o));
      bufs[c].push_back({dict->chars().data() + base, uint64_t{off[k] - base}, {}});
      continue;
    }
    switch (storage_of(col.type_id())) {
      case Storage::kInts:
        if (col.type_id() == TypeId::kBool) {
          OutBuffer b;
          b.owned.resize(n * 8);
          auto* w = reinterpret_cast<int64_t*>(b.owned.data());
          for (uint64_t i = 0; i < n; ++i) w[i] = col.ints()[i] != 0 ? 1 : 0;
          b.data = b.owned.data();
          b.size = n * 8;
          bufs[c].push_back(std::move(b));
        } else {
          bufs[c].push_back({col.ints().data(), n * 8, {}});
        }
        break;
      case Storage::kFloats:
        bufs[c].push_back({col.floats().data(), n * 8, {}});
        break;
      case Storage::kString: {
        const auto& off = col.offsets();
        const uint32_t base = off[0];
        const uint64_t chars = off[n] - base;
        if (base == 0) {
          bufs[c].push_back({off.data(), (n + 1) * 4, {}});
        } else {
          OutBuffer b;
          b.owned.resize((n + 1) * 4);
          auto* w = reinterpret_cast<uint32_t*>(b.owned.data());
          for (uint64_t i = 0; i <= n; ++i) w[i] = off[i] - base;
          b.data = b.owned.data();
          b.size = (n + 1) * 4;
          bufs[c].push_back(std::move(b));
        }
        bufs[c].push_back({col.chars().data() + base, chars, {}});
        break;
      }
      default:
        return invalid_argument(name + ": unsupported column storage");
    }
  }
  // Descriptor; buffer offsets depend on the descriptor's length, which does not depend on
  // their values (fixed-width fields), so lay out with placeholders first.
  auto build = [&](const std::vector<uint64_t>& offsets, std::string& d) -> Status {
    d.clear();
    put_u64(d, n);
    put_u32(d, static_cast<uint32_t>(batch.columns.size()));
    TL_RETURN_IF_ERROR(put_name(d, meta.time_column, name));
    TL_RETURN_IF_ERROR(put_name(d, meta.key_column, name));
    TL_RETURN_IF_ERROR(put_name(d, meta.subsort_column, name));
    size_t k = 0;
    for (size_t c = 0; c < batch.columns.size(); ++c) {
      TL_RETURN_IF_ERROR(put_name(d, batch.schema->fields[c].name, name));
      put_u8(d, codes[c]);
      put_u8(d, flags[c]);
      for (const auto& b : bufs[c]) {
        put_u64(d, offsets.empty() ? 0 : offsets[k]);
        put_u64(d, b.size);
        ++k;
      }
    }
    return {};
  };
  std::string desc;
  TL_RETURN_IF_ERROR(build({}, desc));
  std::vector<uint64_t> offsets;
  uint64_t pos = align_up(kHeaderBytes + desc.size());
  for (const auto& col : bufs) {
    for (const auto& b : col) {
      offsets.push_back(pos);
      pos = align_up(pos + b.size);
    }
  }
  TL_RETURN_IF_ERROR(build(offsets, desc));
  std::string head(kMagic, sizeof(kMagic));
  put_u32(head, kVersion);
  put_u32(head, meta.sorted_by_time ? kFlagSorted : 0);
  put_u64(head, desc.size());
  head += desc;
  static const char kZeros[kAlign] = {};
  uint64_t written = 0;
  auto write = [&](const void* p, uint64_t len) -> Status {
    if (len && std::fwrite(p, 1, len, out) != len)
      return io_error(name + ": write failed: " + std::strerror(errno));
    written += len;
    return {};
  };
  auto pad = [&]() -> Status { return write(kZeros, align_up(written) - written); };
  TL_RETURN_IF_ERROR(write(head.data(), head.size()));
  TL_RETURN_IF_ERROR(pad());
  for (const auto& col : bufs) {
    for (const auto& b : col) {
      TL_RETURN_IF_ERROR(write(b.data, b.size));
      TL_RETURN_IF_ERROR(pad());
    }
  }
  if (std::fflush(out) != 0) return io_error(name + ": write failed: " + std::strerror(errno));
  return {};
}

Status write_columnar_file(const std::string& path, const Batch& batch, const ColumnarMeta& meta) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return io_error("cannot create '" + path + "': " + std::strerror(errno));
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  Status st = write_columnar(f, batch, meta, path);
  if (std::fclose(f) != 0 && st.ok())
    st = io_error(path + ": close failed: " + std::strerror(errno));
  if (!st.ok()) std::remove(path.c_str());
  return st;
}

namespace {

class Cursor {
 public:
  Cursor(std::span<const uint8_t> data, size_t pos, size_t end, const std::string& name)
      : data_(data), pos_(pos), end_(end), name_(name) {}
  size_t pos() const { return pos_; }
  Result<uint64_t> uint(size_t bytes, const char* what) {
    if (end_ - pos_ < bytes) return truncated(what);
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= uint64_t{data_[pos_ + i]} << (8 * i);
    pos_ += bytes;
    return v;
  }
  Result<std::string> name(const char* what) {
    TL_ASSIGN_OR_RETURN(uint64_t len, uint(2, what));
    if (end_ - pos_ < len) return truncated(what);
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), len);
    pos_ += len;
    return s;
  }
  Status fail(size_t at, const std::string& m) const {
    return corruption(fmt::format("{}: byte {}: {}", name_, at, m));
  }

 private:
  std::unexpected<Status> truncated(const char* what) const {
    return error(fail(
        pos_,
        fmt::format("descriptor ends inside the {} (descriptor ends at byte {})", what, end_)));
  }
  std::span<const uint8_t> data_;
  size_t pos_, end_;
  const std::string& name_;
};

struct BufRef {
  uint64_t offset = 0, size = 0;
  size_t desc_pos = 0;  // where the (offset, size) pair sits, for messages
};

struct ColDesc {
  std::string name;
  TypeId type = TypeId::kNull;
  bool has_validity = false;
  bool dictionary = false;
  BufRef validity, values, chars;  // values = offsets for strings, indexes for dictionaries
  BufRef dict_offsets;             // dictionaries: offsets (values) then chars
};

template <typename T>
void copy_into(std::vector<T>& dst, const uint8_t* src, uint64_t count) {
  if (reinterpret_cast<uintptr_t>(src) % alignof(T) == 0) {
    const T* p = reinterpret_cast<const T*>(src);
    dst.assign(p, p + count);
  } else {
    dst.resize(count);
    if (count) std::memcpy(dst.data(), src, count * sizeof(T));
  }
}

// The `count` values at `src` in place when aligned (the file's buffers are), else copied
// into `scratch`.
template <typename T>
const T* view_of(std::vector<T>& scratch, const uint8_t* src, uint64_t count) {
  if (reinterpret_cast<uintptr_t>(src) % alignof(T) == 0) return reinterpret_cast<const T*>(src);
  copy_into(scratch, src, count);
  return scratch.data();
}

// Pre-faults a mapped range in one call (instead of a page fault per few pages).
void populate(const uint8_t* p, uint64_t len) {
#ifdef MADV_POPULATE_READ
  if (len == 0) return;
  const uintptr_t page = 4096;
  uintptr_t from = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t to = reinterpret_cast<uintptr_t>(p) + len;
  ::madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_READ);  // best effort
#else
  (void)p;
  (void)len;
#endif
}

// Copies one column's buffers (already bounds-checked) and checks value invariants.
// `mapped`: `data` is a file mapping worth pre-faulting.
Status load_column(std::span<const uint8_t> data, const ColDesc& d, uint64_t n,
                   const std::string& name, bool mapped, Column& out,
                   std::optional<Column>* keep_dict) {
  Column col(DataType::of(d.type));
  const uint8_t* base = data.data();
  if (mapped) {
    for (const BufRef* b : {&d.validity, &d.values, &d.chars, &d.dict_offsets})
      populate(base + b->offset, b->size);
  }
  if (d.has_validity) {
    copy_into(col.validity(), base + d.validity.offset, d.validity.size / 8);
  }
  auto fail = [&](uint64_t at, const std::string& m) {
    return corruption(fmt::format("{}: byte {}: column '{}': {}", name, at, d.name, m));
  };
  if (d.dictionary) {
    std::vector<uint32_t> idx_copy, doff;
    const uint32_t* idx = view_of(idx_copy, base + d.values.offset, n);
    const uint64_t k = d.dict_offsets.size / 4 - 1;
    copy_into(doff, base + d.dict_offsets.offset, k + 1);
    if (doff[0] != 0) return fail(d.dict_offsets.offset, "dictionary offsets do not start at 0");
    for (uint64_t i = 0; i < k; ++i) {
      if (doff[i + 1] < doff[i])
        return fail(d.dict_offsets.offset + 4 * (i + 1), "dictionary offsets decrease");
    }
    if (doff[k] != d.chars.size)
      return fail(d.dict_offsets.offset + 4 * k,
                  "last dictionary offset differs from the chars length");
    const char* chars = reinterpret_cast<const char*>(base + d.chars.offset);
    if (keep_dict) {
      // Codes and distinct values as they are (indexes of valid rows checked below).
      Column codes(DataType::of(TypeId::kU32));
      codes.validity() = std::move(col.validity());
      auto& ints = codes.ints();
      ints.resize(n);
      for (uint64_t i = 0; i < n; ++i) {
        bool valid = !d.has_validity || ((codes.validity()[i >> 6] >> (i & 63)) & 1);
        if (valid && idx[i] >= k)
          return fail(d.values.offset + 4 * i,
                      fmt::format("index {} outside the {}-entry dictionary", idx[i], k));
        ints[i] = valid ? idx[i] : 0;
      }
      codes.set_size(static_cast<int64_t>(n));
      Column values(DataType::of(TypeId::kString));
      values.offsets() = std::move(doff);
      values.chars().assign(chars, d.chars.size);
      values.set_size(static_cast<int64_t>(k));
      out = std::move(codes);
      *keep_dict = std::move(values);
      return {};
    }
    auto& off = col.offsets();
    off.resize(n + 1);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; ++i) {
      bool valid = !d.has_validity || ((col.validity()[i >> 6] >> (i & 63)) & 1);
      if (valid) {
        if (idx[i] >= k)
          return fail(d.values.offset + 4 * i,
                      fmt::format("index {} outside the {}-entry dictionary", idx[i], k));
        total += doff[idx[i] + 1] - doff[idx[i]];
        if (total > UINT32_MAX) return fail(d.values.offset + 4 * i, "strings exceed 4 GiB");
      }
      off[i + 1] = static_cast<uint32_t>(total);
    }
    std::string& out_chars = col.chars();
    out_chars.resize(total);
    char* w = out_chars.data();
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t len = off[i + 1] - off[i];
      if (len) std::memcpy(w + off[i], chars + doff[idx[i]], len);
    }
    col.set_size(static_cast<int64_t>(n));
    out = std::move(col);
    return {};
  }
  switch (storage_of(d.type)) {
    case Storage::kInts:
      copy_into(col.ints(), base + d.values.offset, n);
      if (d.type == TypeId::kBool) {
        for (uint64_t i = 0; i < n; ++i) {
          int64_t v = col.ints()[i];
          if (v != 0 && v != 1)
            return fail(d.values.offset + 8 * i, fmt::format("bool value {} is not 0 or 1", v));
        }
      }
      break;
    case Storage::kFloats:
      copy_into(col.floats(), base + d.values.offset, n);
      break;
    case Storage::kString: {
      auto& off = col.offsets();
      copy_into(off, base + d.values.offset, n + 1);
      if (off[0] != 0) return fail(d.values.offset, "string offsets do not start at 0");
      for (uint64_t i = 0; i < n; ++i) {
        if (off[i + 1] < off[i])
          return fail(
              d.values.offset + 4 * (i + 1),
              fmt::format("string offset {} is below the previous one {}", off[i + 1], off[i]));
      }
      if (off[n] != d.chars.size)
        return fail(d.values.offset + 4 * n,
                    fmt::format("last string offset {} differs from the chars length {}", off[n],
                                d.chars.size));
      col.chars().assign(reinterpret_cast<const char*>(base + d.chars.offset), d.chars.size);
      break;
    }
    default:
      return fail(0, "unsupported type");
  }
  col.set_size(static_cast<int64_t>(n));
  out = std::move(col);
  return {};
}

}  // namespace

namespace {
Result<ColumnarTable> read_impl(std::span<const uint8_t> data, const std::string& name, int threads,
                                const std::vector<std::string>* only, bool mapped,
                                const std::string* keep_dictionary);
}  // namespace

Result<ColumnarTable> read_columnar(std::span<const uint8_t> data, const std::string& name,
                                    int threads, const std::vector<std::string>* only,
                                    const std::string* keep_dictionary) {
  return read_impl(data, name, threads, only, false, keep_dictionary);
}

namespace {
Result<ColumnarTable> read_impl(std::span<const uint8_t> data, const std::string& name, int threads,
                                const std::vector<std::string>* only, bool mapped,
                                const std::string* keep_dictionary) {
  const size_t size = data.size();
  Cursor head(data, 0, size, name);
  if (size < kHeaderBytes) {
    return error(head.fail(
        0, fmt::format("file is {} bytes, shorter than the {}-byte header", size, kHeaderBytes)));
  }
  if (!is_columnar_magic(data)) return error(head.fail(0, "not a Tideline columnar file (magic)"));
  Cursor h(data, 8, kHeaderBytes, name);
  TL_ASSIGN_OR_RETURN(uint64_t version, h.uint(4, "version"));
  if (version != kVersion)
    return error(head.fail(
        8, fmt::format("unsupported format version {} (expected {})", version, kVersion)));
  TL_ASSIGN_OR_RETURN(uint64_t flags, h.uint(4, "flags"));
  if (flags & ~uint64_t{kFlagSorted})
    return error(head.fail(12, fmt::format("unknown file flags 0x{:x}", flags)));
  TL_ASSIGN_OR_RETURN(uint64_t dlen, h.uint(8, "descriptor length"));
  if (dlen > size - kHeaderBytes) {
    return error(head.fail(16, fmt::format("descriptor length {} runs past the end of the "
                                           "{}-byte file",
                                           dlen, size)));
  }
  const size_t dend = kHeaderBytes + dlen;
  Cursor c(data, kHeaderBytes, dend, name);
  TL_ASSIGN_OR_RETURN(uint64_t n, c.uint(8, "row count"));
  if (n > kMaxRows)
    return error(c.fail(kHeaderBytes, fmt::format("row count {} exceeds 2^31-1", n)));
  size_t ncols_pos = c.pos();
  TL_ASSIGN_OR_RETURN(uint64_t ncols, c.uint(4, "column count"));
  if (ncols > kMaxColumns)
    return error(c.fail(ncols_pos, fmt::format("column count {} exceeds {}", ncols, kMaxColumns)));
  ColumnarTable out;
  size_t meta_pos = c.pos();
  TL_ASSIGN_OR_RETURN(out.meta.time_column, c.name("time column name"));
  TL_ASSIGN_OR_RETURN(out.meta.key_column, c.name("key column name"));
  TL_ASSIGN_OR_RETURN(out.meta.subsort_column, c.name("subsort column name"));
  out.meta.sorted_by_time = (flags & kFlagSorted) != 0;
  const uint64_t words = (n + 63) / 64;
  std::vector<ColDesc> cols;
  std::unordered_set<std::string> seen;
  auto read_buf = [&](BufRef& b, uint64_t expect, bool exact, const std::string& col,
                      const char* what) -> Status {
    b.desc_pos = c.pos();
    TL_ASSIGN_OR_RETURN(b.offset, c.uint(8, "buffer offset"));
    TL_ASSIGN_OR_RETURN(b.size, c.uint(8, "buffer length"));
    auto bad = [&](const std::string& m) {
      return c.fail(b.desc_pos, fmt::format("column '{}': {} buffer {}", col, what, m));
    };
    if (b.offset % kAlign) return bad(fmt::format("offset {} is not 64-byte aligned", b.offset));
    if (b.offset < dend) return bad(fmt::format("offset {} lies inside the header", b.offset));
    if (b.offset > size || b.size > size - b.offset)
      return bad(
          fmt::format("[{}, +{}) runs past the end of the {}-byte file", b.offset, b.size, size));
    if (exact && b.size != expect)
      return bad(fmt::format("is {} bytes, expected {} for {} rows", b.size, expect, n));
    return {};
  };
  for (uint64_t i = 0; i < ncols; ++i) {
    ColDesc d;
    size_t name_pos = c.pos();
    TL_ASSIGN_OR_RETURN(d.name, c.name("column name"));
    if (d.name.empty())
      return error(c.fail(name_pos, fmt::format("column {} has an empty name", i)));
    if (!seen.insert(d.name).second)
      return error(c.fail(name_pos, fmt::format("duplicate column name '{}'", d.name)));
    size_t type_pos = c.pos();
    TL_ASSIGN_OR_RETURN(uint64_t code, c.uint(1, "type code"));
    if (!from_file_type(static_cast<uint8_t>(code), d.type))
      return error(
          c.fail(type_pos, fmt::format("column '{}': unknown type code {}", d.name, code)));
    TL_ASSIGN_OR_RETURN(uint64_t cflags, c.uint(1, "column flags"));
    if (cflags & ~uint64_t{kColHasValidity})
      return error(c.fail(type_pos + 1,
                          fmt::format("column '{}': unknown column flags 0x{:x}", d.name, cflags)));
    d.has_validity = (cflags & kColHasValidity) != 0;
    d.dictionary = code == static_cast<uint64_t>(FileType::kDictString);
    if (d.has_validity)
      TL_RETURN_IF_ERROR(read_buf(d.validity, words * 8, true, d.name, "validity"));
    if (d.dictionary) {
      TL_RETURN_IF_ERROR(read_buf(d.values, n * 4, true, d.name, "indexes"));
      TL_RETURN_IF_ERROR(read_buf(d.dict_offsets, 0, false, d.name, "dictionary offsets"));
      if (d.dict_offsets.size < 4 || d.dict_offsets.size % 4)
        return error(c.fail(d.dict_offsets.desc_pos,
                            fmt::format("column '{}': dictionary offsets buffer is {} bytes, not "
                                        "a positive multiple of 4",
                                        d.name, d.dict_offsets.size)));
      TL_RETURN_IF_ERROR(read_buf(d.chars, 0, false, d.name, "dictionary chars"));
      if (d.chars.size > UINT32_MAX)
        return error(c.fail(d.chars.desc_pos, "chars buffer longer than 4 GiB"));
    } else if (d.type == TypeId::kString) {
      TL_RETURN_IF_ERROR(read_buf(d.values, (n + 1) * 4, true, d.name, "offsets"));
      TL_RETURN_IF_ERROR(read_buf(d.chars, 0, false, d.name, "chars"));
      if (d.chars.size > UINT32_MAX)
        return error(c.fail(d.chars.desc_pos, "chars buffer longer than 4 GiB"));
    } else {
      TL_RETURN_IF_ERROR(read_buf(d.values, n * 8, true, d.name, "values"));
    }
    cols.push_back(std::move(d));
  }
  if (c.pos() != dend)
    return error(c.fail(
        c.pos(), fmt::format("{} unused bytes at the end of the descriptor", dend - c.pos())));
  for (const std::string* m :
       {&out.meta.time_column, &out.meta.key_column, &out.meta.subsort_column}) {
    if (!m->empty() && !seen.count(*m))
      return error(c.fail(meta_pos, fmt::format("metadata names column '{}', which the file "
                                                "does not have",
                                                *m)));
  }
  std::vector<Field> all_fields;
  for (const auto& d : cols) all_fields.push_back({d.name, DataType::of(d.type)});
  out.file_schema = DataType::record(all_fields);
  if (only) {
    for (const auto& want : *only) {
      if (!seen.count(want))
        return error(corruption(fmt::format("{}: no column '{}' in the file", name, want)));
    }
    std::vector<ColDesc> keep;
    for (auto& d : cols) {
      if (std::find(only->begin(), only->end(), d.name) != only->end())
        keep.push_back(std::move(d));
    }
    cols = std::move(keep);
  }
  std::vector<Field> fields;
  for (const auto& d : cols) {
    bool keep = keep_dictionary && d.dictionary && d.name == *keep_dictionary;
    fields.push_back({d.name, DataType::of(keep ? TypeId::kU32 : d.type)});
  }
  out.batch = Batch::empty(DataType::record(std::move(fields)));
  out.batch.num_rows = static_cast<int64_t>(n);
  std::vector<Status> status(cols.size());
  auto run = [&](size_t from, size_t step) {
    for (size_t i = from; i < cols.size(); i += step)
      status[i] =
          load_column(data, cols[i], n, name, mapped, out.batch.columns[i],
                      keep_dictionary && cols[i].dictionary && cols[i].name == *keep_dictionary
                          ? &out.dictionary_values
                          : nullptr);
  };
  if (threads > 1 && cols.size() > 1 && n >= 100000) {
    std::thread t([&] { run(1, 2); });
    run(0, 2);
    t.join();
  } else {
    run(0, 1);
  }
  for (auto& s : status) TL_RETURN_IF_ERROR(s);
  return out;
}
}  // namespace

Result<ColumnarTable> read_columnar_file(const std::string& path, int threads,
                                         const std::vector<std::string>* only,
                                         const std::string* keep_dictionary) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return error(StatusCode::kIoError, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return error(StatusCode::kIoError, "cannot stat '" + path + "': " + std::strerror(e));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return read_columnar({}, path, threads, only, keep_dictionary);
  }
  // Not MAP_POPULATE: only the buffers of the loaded columns are pre-faulted.
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (p == MAP_FAILED)
    return error(StatusCode::kIoError, "cannot map '" + path + "': " + std::strerror(e));
  ::madvise(p, size, MADV_SEQUENTIAL);
  auto r = read_impl(std::span<const uint8_t>(static_cast<const uint8_t*>(p), size), path, threads,
                     only, true, keep_dictionary);
  ::munmap(p, size);
  return r;
}

}  // namespace tideline::io
