// Typed and inferred CSV loaders on top of CsvReader.

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "common/time.h"
#include "io/csv/csv.h"

namespace tideline::csv {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A whole cell as a number with an optional leading '+' (from_chars accepts '-' only).
// False on a syntax error, trailing characters or overflow.
template <typename T>
bool parse_number(std::string_view s, T& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  auto r = std::from_chars(b, e, out);
  return r.ec == std::errc() && r.ptr == e;
}

bool parse_i64(std::string_view s, int64_t& out) {
  return parse_number(s, out);
}
bool parse_u64(std::string_view s, uint64_t& out) {
  return parse_number(s, out);
}
bool parse_f64(std::string_view s, double& out) {
  return parse_number(s, out);
}

// 1 = true, 0 = false, -1 = not a boolean.
int parse_bool(std::string_view s) {
  if (iequals(s, "true") || iequals(s, "t") || s == "1" || iequals(s, "yes")) return 1;
  if (iequals(s, "false") || iequals(s, "f") || s == "0" || iequals(s, "no")) return 0;
  return -1;
}

// ---------------------------------------------------------------------------------------------
// load_typed

struct Cell {
  int64_t i = 0;
  double d = 0;
  std::string_view s;
  bool valid = false;
};

// Parses one cell for a column of type `id` into `cell`; on failure writes the reason.
bool parse_cell(std::string_view text, TypeId id, const std::string& column,
                const LoadOptions& options, Cell& cell, std::string& reason) {
  cell.valid = true;
  if (id == TypeId::kString) {
    if (text.empty() && options.empty_string_is_null) {
      cell.valid = false;
      return true;
    }
    cell.s = text;
    return true;
  }
  if (text.empty()) {
    cell.valid = false;
    return true;
  }
  auto fail = [&](std::string_view what) {
    reason = fmt::format("column '{}': '{}' {}", column, text, what);
    return false;
  };
  switch (id) {
    case TypeId::kBool: {
      int b = parse_bool(text);
      if (b < 0) return fail("is not a boolean");
      cell.i = b;
      return true;
    }
    case TypeId::kI32:
    case TypeId::kI64:
    case TypeId::kDuration: {
      if (!parse_i64(text, cell.i)) {
        bool syntax_ok = std::any_of(text.begin(), text.end(), is_digit) &&
                         std::all_of(text.begin(), text.end(),
                                     [](char c) { return is_digit(c) || c == '-' || c == '+'; });
        return fail(syntax_ok ? "is out of range for i64" : "is not an integer");
      }
      if (id == TypeId::kI32 && (cell.i < std::numeric_limits<int32_t>::min() ||
                                 cell.i > std::numeric_limits<int32_t>::max())) {
        return fail("is out of range for i32");
      }
      return true;
    }
    case TypeId::kU32:
    case TypeId::kU64: {
      uint64_t u;
      if (!parse_u64(text, u)) return fail("is not an unsigned integer");
      if (id == TypeId::kU32 && u > std::numeric_limits<uint32_t>::max()) {
        return fail("is out of range for u32");
      }
      cell.i = static_cast<int64_t>(u);
      return true;
    }
    case TypeId::kF32:
    case TypeId::kF64:
      if (!parse_f64(text, cell.d)) return fail("is not a number");
      if (id == TypeId::kF32) cell.d = static_cast<float>(cell.d);
      return true;
    case TypeId::kTimestamp: {
      int64_t n;
      if (parse_i64(text, n)) {
        if (__builtin_mul_overflow(n, options.timestamp_int_unit_ns, &cell.i)) {
          return fail("is out of range for a timestamp");
        }
        return true;
      }
      auto ts = parse_timestamp(text);
      if (!ts) return fail("is not a timestamp");
      cell.i = *ts;
      return true;
    }
    default:
      reason = fmt::format("column '{}': unsupported type {}", column, type_id_name(id));
      return false;
  }
}

void append_cell(Column& col, TypeId id, const Cell& cell) {
  if (!cell.valid) {
    col.append_null();
    return;
  }
  switch (storage_of(id)) {
    case Storage::kInts:
      col.append_int(cell.i);
      break;
    case Storage::kFloats:
      col.append_float(cell.d);
      break;
    case Storage::kString:
      col.append_string(cell.s);
      break;
    default:
      col.append_null();
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// load_inferred: classification as documented on load_inferred in csv.h (Kaskada's preparation,
// Arrow's CSV inference; docs/fenl.md#input-tables).

// Cell kinds as bits, so a column's kinds combine with `|`.
constexpr uint32_t kBoolBit = 1u << 0;
constexpr uint32_t kIntBit = 1u << 1;
constexpr uint32_t kFloatBit = 1u << 2;
constexpr uint32_t kDateBit = 1u << 3;
constexpr uint32_t kTsSecBit = 1u << 4;
constexpr uint32_t kTsMsBit = 1u << 5;
constexpr uint32_t kTsUsBit = 1u << 6;
constexpr uint32_t kTsNsBit = 1u << 7;
constexpr uint32_t kOtherBit = 1u << 8;

size_t count_digits(std::string_view s, size_t p) {
  size_t n = 0;
  while (p + n < s.size() && is_digit(s[p + n])) ++n;
  return n;
}

bool is_int_text(std::string_view s) {
  size_t p = (!s.empty() && s[0] == '-') ? 1 : 0;
  return p < s.size() && count_digits(s, p) == s.size() - p;
}

// -?(\d*\.\d+|\d+\.\d*)(e-?\d+)? | -?\d+e-?\d+   (e or E)
bool is_float_text(std::string_view s) {
  size_t p = (!s.empty() && s[0] == '-') ? 1 : 0;
  size_t int_digits = count_digits(s, p);
  p += int_digits;
  bool has_dot = false;
  size_t frac_digits = 0;
  if (p < s.size() && s[p] == '.') {
    has_dot = true;
    ++p;
    frac_digits = count_digits(s, p);
    p += frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  bool has_exp = false;
  if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
    ++p;
    if (p < s.size() && s[p] == '-') ++p;
    size_t exp_digits = count_digits(s, p);
    if (exp_digits == 0) return false;
    p += exp_digits;
    has_exp = true;
  }
  return p == s.size() && (has_dot || has_exp);
}

bool date_prefix(std::string_view s) {
  return s.size() >= 10 && count_digits(s, 0) == 4 && s[4] == '-' && count_digits(s, 5) == 2 &&
         s[7] == '-' && count_digits(s, 8) == 2;
}

uint32_t classify(std::string_view s) {
  if (s[0] == '"') return kOtherBit;
  if (iequals(s, "true") || iequals(s, "false")) return kBoolBit;
  if (is_int_text(s)) {
    int64_t v;
    // An integer that overflows i64 makes the column a string column.
    return parse_i64(s, v) ? kIntBit : kOtherBit;
  }
  if (is_float_text(s)) return kFloatBit;
  if (!date_prefix(s)) return kOtherBit;
  if (s.size() == 10) return kDateBit;
  // YYYY-MM-DD[T ]HH:MM:SS
  if (s.size() < 19 || (s[10] != 'T' && s[10] != ' ') || count_digits(s, 11) != 2 || s[13] != ':' ||
      count_digits(s, 14) != 2 || s[16] != ':' || count_digits(s, 17) != 2) {
    return kOtherBit;
  }
  if (s.size() == 19) return kTsSecBit;
  char c = s[19];
  if (c != '.') return is_digit(c) ? kOtherBit : kTsSecBit;
  size_t n = count_digits(s, 20);
  if (n == 0 || n > 9) return kOtherBit;
  return n <= 3 ? kTsMsBit : n <= 6 ? kTsUsBit : kTsNsBit;
}

TypeId inferred_type(uint32_t mask) {
  if (mask == 0) return TypeId::kString;  // all empty
  if (mask == kBoolBit) return TypeId::kBool;
  if (mask == kIntBit) return TypeId::kI64;
  if (mask == kFloatBit || mask == (kFloatBit | kIntBit)) return TypeId::kF64;
  if ((mask & ~uint32_t{0xF8}) == 0) return TypeId::kTimestamp;
  return TypeId::kString;
}

// The raw cells of one column, kept until the whole file has been classified.
struct RawColumn {
  std::string chars;
  std::vector<size_t> ends;
  uint32_t mask = 0;
  std::string_view cell(size_t r) const {
    size_t b = r == 0 ? 0 : ends[r - 1];
    return std::string_view(chars).substr(b, ends[r] - b);
  }
};

}  // namespace

Result<LoadStats> load_typed(CsvReader& reader, const TypePtr& schema, const LoadOptions& options,
                             const std::function<Status(Batch&&)>& on_batch,
                             const std::function<void(const RowError&)>& on_error) {
  if (!schema || schema->id != TypeId::kRecord) {
    return error(StatusCode::kInvalidArgument, "load_typed: the schema must be a record");
  }
  const size_t ncols = schema->fields.size();
  std::vector<TypeId> ids(ncols);
  for (size_t c = 0; c < ncols; ++c) {
    ids[c] = schema->fields[c].type->id;
    if (ids[c] == TypeId::kRecord || ids[c] == TypeId::kNull) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("load_typed: column '{}' has type {}, which CSV cannot hold",
                               schema->fields[c].name, schema->fields[c].type->to_string()));
    }
  }
  const int64_t batch_rows = std::max<int64_t>(options.batch_rows, 1);
  auto new_batch = [&] {
    Batch b = Batch::empty(schema);
    for (auto& col : b.columns) col.reserve(std::min<int64_t>(batch_rows, 65536));
    return b;
  };

  LoadStats stats;
  Batch batch = new_batch();
  std::vector<Cell> cells(ncols);
  std::string reason;
  CsvRow row;
  bool first = true;
  const std::string prefix_base = reader.name() + ":";
  for (;;) {
    if (options.max_rows >= 0 && stats.rows_loaded >= options.max_rows) break;
    auto r = reader.next(row);
    if (!r) {
      if (r.error().code() != StatusCode::kParseError) return error(r.error());
      // A malformed row; the reader has skipped it.
      first = false;
      ++stats.rows_read;
      ++stats.rows_rejected;
      std::string msg = r.error().message();
      std::string prefix = fmt::format("{}{}: ", prefix_base, row.line);
      if (msg.starts_with(prefix)) msg.erase(0, prefix.size());
      if (on_error) on_error(RowError{reader.name(), row.line, std::move(msg)});
      continue;
    }
    if (!*r) break;
    if (first) {
      first = false;
      if (options.header == HeaderMode::kPresent) {
        stats.header_seen = true;
        continue;
      }
      if (options.header == HeaderMode::kDetect && row.fields.size() == ncols) {
        bool is_header = true;
        for (size_t c = 0; c < ncols && is_header; ++c) {
          is_header = iequals(row.fields[c], schema->fields[c].name);
        }
        if (is_header) {
          stats.header_seen = true;
          continue;
        }
      }
    }
    ++stats.rows_read;
    bool ok = row.fields.size() == ncols;
    if (!ok) {
      reason = fmt::format("expected {} columns, found {}", ncols, row.fields.size());
    } else {
      for (size_t c = 0; c < ncols && ok; ++c) {
        ok = parse_cell(row.fields[c], ids[c], schema->fields[c].name, options, cells[c], reason);
      }
    }
    if (!ok) {
      ++stats.rows_rejected;
      if (on_error) on_error(RowError{reader.name(), row.line, reason});
      continue;
    }
    for (size_t c = 0; c < ncols; ++c) append_cell(batch.columns[c], ids[c], cells[c]);
    ++batch.num_rows;
    ++stats.rows_loaded;
    if (batch.num_rows >= batch_rows) {
      TL_RETURN_IF_ERROR(on_batch(std::move(batch)));
      batch = new_batch();
    }
  }
  if (batch.num_rows > 0) TL_RETURN_IF_ERROR(on_batch(std::move(batch)));
  return stats;
}

Result<Batch> load_inferred(CsvReader& reader, const std::vector<std::string>& timestamp_columns) {
  CsvRow row;
  TL_ASSIGN_OR_RETURN(bool has_header, reader.next(row));
  if (!has_header) {
    return error(StatusCode::kInvalidArgument,
                 fmt::format("{}: empty CSV (a header row is required)", reader.name()));
  }
  std::vector<std::string> names(row.fields.begin(), row.fields.end());
  const size_t ncols = names.size();
  std::vector<bool> forced(ncols, false);
  for (const auto& t : timestamp_columns) {
    auto it = std::find(names.begin(), names.end(), t);
    if (it == names.end()) {
      return error(StatusCode::kInvalidArgument,
                   fmt::format("{}: timestamp column '{}' is not in the header", reader.name(), t));
    }
    forced[static_cast<size_t>(it - names.begin())] = true;
  }

  std::vector<RawColumn> raw(ncols);
  std::vector<int64_t> lines;
  for (;;) {
    TL_ASSIGN_OR_RETURN(bool more, reader.next(row));
    if (!more) break;
    if (row.fields.size() != ncols) {
      return error(StatusCode::kParseError,
                   fmt::format("{}:{}: expected {} columns, found {}", reader.name(), row.line,
                               ncols, row.fields.size()));
    }
    lines.push_back(row.line);
    for (size_t c = 0; c < ncols; ++c) {
      std::string_view cell = row.fields[c];
      RawColumn& rc = raw[c];
      rc.chars.append(cell);
      rc.ends.push_back(rc.chars.size());
      if (!cell.empty()) rc.mask |= classify(cell);
    }
  }

  const size_t nrows = lines.size();
  std::vector<Field> fields;
  fields.reserve(ncols);
  for (size_t c = 0; c < ncols; ++c) {
    TypeId id = forced[c] ? TypeId::kTimestamp : inferred_type(raw[c].mask);
    fields.push_back({names[c], DataType::of(id)});
  }
  Batch batch = Batch::empty(DataType::record(std::move(fields)));
  batch.num_rows = static_cast<int64_t>(nrows);
  for (size_t c = 0; c < ncols; ++c) {
    Column& col = batch.columns[c];
    const RawColumn& rc = raw[c];
    TypeId id = col.type_id();
    col.reserve(static_cast<int64_t>(nrows));
    auto bad = [&](size_t r, std::string_view what) {
      return error(StatusCode::kParseError,
                   fmt::format("{}:{}:{}: column '{}': '{}' {}", reader.name(), lines[r], c + 1,
                               names[c], rc.cell(r), what));
    };
    for (size_t r = 0; r < nrows; ++r) {
      std::string_view s = rc.cell(r);
      if (id == TypeId::kString) {
        col.append_string(s);  // an empty cell is "", never null, in a string column
        continue;
      }
      if (s.empty()) {
        col.append_null();
        continue;
      }
      switch (id) {
        case TypeId::kBool:
          col.append_int(iequals(s, "true") ? 1 : 0);
          break;
        case TypeId::kI64: {
          int64_t v;
          if (!parse_i64(s, v)) return bad(r, "is not an i64");
          col.append_int(v);
          break;
        }
        case TypeId::kF64: {
          double v;
          if (!parse_f64(s, v)) return bad(r, "is not a number");
          col.append_float(v);
          break;
        }
        case TypeId::kTimestamp: {
          // Forced columns also take integers (nanoseconds since the epoch) and floats
          // (truncated to integer nanoseconds).
          if (forced[c]) {
            int64_t v;
            double d;
            if (is_int_text(s) && parse_i64(s, v)) {
              col.append_int(v);
              break;
            }
            if (is_float_text(s) && parse_f64(s, d)) {
              if (!(std::fabs(d) < 9.2e18)) return bad(r, "is out of range for a timestamp");
              col.append_int(static_cast<int64_t>(d));
              break;
            }
          }
          auto ts = parse_timestamp(s);
          if (!ts) return bad(r, "is not a timestamp");
          col.append_int(*ts);
          break;
        }
        default:
          return bad(r, "has an unsupported type");
      }
    }
  }
  return batch;
}

}  // namespace tideline::csv
