// CsvReader: an RFC 4180 row scanner over a chunk buffer.
//
// A row is first scanned without modifying the buffer, recording field spans. When the row
// runs past the buffered bytes the buffer is compacted/grown, more input is read and the row
// is scanned again from its start, so a partial scan never leaves the buffer half-rewritten.
// Only once the whole row is known are quoted fields with "" escapes unescaped in place
// (the result is never longer than the source), and the row's fields are views into the buffer.

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/csv/csv.h"

namespace tideline::csv {

std::string RowError::to_string() const {
  return fmt::format("{}:{}: {}", file, line, reason);
}

namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;
// A row (e.g. an unterminated quote) may not make the buffer grow beyond this.
constexpr size_t kMaxRowBytes = size_t{256} << 20;

struct Span {
  size_t begin;
  size_t end;
  bool unescape;  // contains "" pairs to collapse
};

class CsvReaderImpl final : public CsvReader {
 public:
  // Reads `file` (owned) in chunks of `chunk_bytes`, or, when `file` is null, parses `data`
  // in place. `backing` keeps alive the memory a memory stream reads from.
  CsvReaderImpl(std::string name, char delimiter, std::FILE* file, std::string data,
                size_t chunk_bytes = kChunkBytes, std::unique_ptr<std::string> backing = nullptr)
      : name_(std::move(name)),
        delimiter_(delimiter),
        backing_(std::move(backing)),
        file_(file),
        buf_(std::move(data)) {
    for (int c : {'\n', '\r', '"'}) stop_[static_cast<unsigned char>(c)] = true;
    stop_[static_cast<unsigned char>(delimiter_)] = true;
    if (file_ == nullptr) {
      end_ = buf_.size();
      eof_ = true;
      skip_bom();
    } else {
      buf_.resize(std::max<size_t>(chunk_bytes, 1));
    }
  }
  ~CsvReaderImpl() override {
    if (file_ != nullptr) std::fclose(file_);
  }

  const std::string& name() const override { return name_; }

  Result<bool> next(CsvRow& row) override {
    if (file_ != nullptr && !started_) {
      started_ = true;
      do {
        TL_RETURN_IF_ERROR(refill());
      } while (!eof_ && end_ < 3);
      skip_bom();
    }
    for (;;) {
      if (skip_to_eol_) {
        TL_ASSIGN_OR_RETURN(bool done, skip_line());
        if (!done) continue;  // refilled; try again
      }
      Scan s = scan_row(row);
      switch (s) {
        case Scan::kRow:
          return true;
        case Scan::kEnd:
          return false;
        case Scan::kMore:
          TL_RETURN_IF_ERROR(refill());
          break;
        case Scan::kError:
          row.line = error_line_;
          row.fields.clear();
          return error(std::move(pending_error_));
      }
    }
  }

 private:
  enum class Scan { kRow, kEnd, kMore, kError };

  void skip_bom() {
    if (end_ - pos_ >= 3 && std::memcmp(buf_.data() + pos_, "\xEF\xBB\xBF", 3) == 0) pos_ += 3;
  }

  // Moves the unconsumed bytes to the front and reads more; grows the buffer when the
  // unconsumed part already fills it.
  Status refill() {
    if (eof_) return internal_error("csv reader: refill after end of input");
    if (pos_ > 0) {
      std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
    }
    if (end_ == buf_.size()) {
      if (buf_.size() >= kMaxRowBytes) {
        return Status(StatusCode::kParseError,
                      fmt::format("{}:{}: row longer than {} bytes (unterminated quote?)", name_,
                                  line_, kMaxRowBytes));
      }
      buf_.resize(buf_.size() * 2);
    }
    size_t n = std::fread(buf_.data() + end_, 1, buf_.size() - end_, file_);
    if (n == 0) {
      if (std::ferror(file_)) {
        return io_error(fmt::format("{}: read failed: {}", name_, std::strerror(errno)));
      }
      eof_ = true;
    }
    end_ += n;
    return {};
  }

  // Consumes through the end of the current physical line. Returns false if it needs a refill.
  Result<bool> skip_line() {
    const char* b = buf_.data();
    const void* nl = std::memchr(b + pos_, '\n', end_ - pos_);
    if (nl == nullptr) {
      if (!eof_) {
        pos_ = end_;  // nothing in this line is needed any more
        TL_RETURN_IF_ERROR(refill());
        return false;
      }
      pos_ = end_;
    } else {
      pos_ = static_cast<size_t>(static_cast<const char*>(nl) - b) + 1;
    }
    ++line_;
    skip_to_eol_ = false;
    return true;
  }

  Scan fail(size_t at, int64_t line, std::string what) {
    // Column = 1-based byte position within its physical line.
    size_t ls = at;
    while (ls > pos_ && buf_[ls - 1] != '\n') --ls;
    error_line_ = line;
    pending_error_ = Status(StatusCode::kParseError,
                            fmt::format("{}:{}: {} (column {})", name_, line, what, at - ls + 1));
    return Scan::kError;
  }

  Scan scan_row(CsvRow& row) {
    const char* b = buf_.data();
    // Skip blank lines; they are consumed for good.
    for (;;) {
      if (pos_ == end_) return eof_ ? Scan::kEnd : Scan::kMore;
      char c = b[pos_];
      if (c == '\n') {
        ++pos_;
        ++line_;
      } else if (c == '\r') {
        if (pos_ + 1 == end_ && !eof_) return Scan::kMore;
        pos_ += (pos_ + 1 < end_ && b[pos_ + 1] == '\n') ? 2 : 1;
        ++line_;
      } else {
        break;
      }
    }
    spans_.clear();
    size_t p = pos_;
    int64_t extra_lines = 0;  // newlines inside quoted fields
    for (;;) {
      if (p < end_ && b[p] == '"') {
        size_t fb = ++p;
        int64_t lines_before = extra_lines;
        bool esc = false;
        size_t q;
        for (;;) {
          const void* f = std::memchr(b + p, '"', end_ - p);
          if (f == nullptr) {
            if (!eof_) return Scan::kMore;
            // Unterminated: report it at the opening quote and resume after that quote's line
            // (earlier lines of the row belong to properly closed fields).
            Scan s = fail(fb - 1, line_ + lines_before, "unterminated quoted field");
            return resume_after_error(fb - 1, lines_before, s);
          }
          q = static_cast<size_t>(static_cast<const char*>(f) - b);
          for (size_t i = p; i < q; ++i) extra_lines += b[i] == '\n';
          if (q + 1 == end_ && !eof_) return Scan::kMore;
          if (q + 1 < end_ && b[q + 1] == '"') {
            esc = true;
            p = q + 2;
            continue;
          }
          p = q + 1;
          break;
        }
        spans_.push_back({fb, q, esc});
        if (p == end_) {
          if (!eof_) return Scan::kMore;
          break;
        }
        char c = b[p];
        if (c == delimiter_) {
          ++p;
          continue;
        }
        if (c == '\n' || c == '\r') break;
        Scan s = fail(p, line_ + extra_lines,
                      fmt::format("unexpected character '{}' after a closing quote", c));
        return resume_after_error(p, extra_lines, s);
      }
      size_t fb = p;
      while (p < end_ && !stop_[static_cast<unsigned char>(b[p])]) ++p;
      if (p == end_) {
        if (!eof_) return Scan::kMore;
        spans_.push_back({fb, p, false});
        break;
      }
      char c = b[p];
      if (c == '"') {
        Scan s = fail(p, line_ + extra_lines, "stray '\"' in an unquoted field");
        return resume_after_error(p, extra_lines, s);
      }
      spans_.push_back({fb, p, false});
      if (c == delimiter_) {
        ++p;
        continue;
      }
      break;  // '\n' or '\r'
    }
    // Consume the terminator (if any).
    if (p < end_) {
      if (b[p] == '\r') {
        if (p + 1 == end_ && !eof_) return Scan::kMore;
        p += (p + 1 < end_ && b[p + 1] == '\n') ? 2 : 1;
      } else {
        ++p;
      }
    }
    row.line = line_;
    line_ += 1 + extra_lines;
    pos_ = p;
    row.fields.clear();
    char* w = buf_.data();
    for (const Span& s : spans_) {
      if (!s.unescape) {
        row.fields.emplace_back(w + s.begin, s.end - s.begin);
        continue;
      }
      size_t o = s.begin;
      for (size_t r = s.begin; r < s.end; ++r) {
        w[o++] = w[r];
        if (w[r] == '"') ++r;  // skip the second quote of a "" pair
      }
      row.fields.emplace_back(w + s.begin, o - s.begin);
    }
    return Scan::kRow;
  }

  // After an error at byte `at`, skip the rest of that physical line.
  Scan resume_after_error(size_t at, int64_t extra_lines, Scan s) {
    pos_ = at;
    line_ += extra_lines;
    skip_to_eol_ = true;
    return s;
  }

  std::string name_;
  char delimiter_;
  std::unique_ptr<std::string> backing_;  // heap-stable memory behind a memory stream
  std::FILE* file_;                       // owned; null when reading from a string
  std::string buf_;
  size_t pos_ = 0;  // first unconsumed byte
  size_t end_ = 0;  // end of valid bytes
  bool eof_ = false;
  bool started_ = false;
  bool skip_to_eol_ = false;
  int64_t line_ = 1;  // line of buf_[pos_]
  bool stop_[256] = {};
  std::vector<Span> spans_;
  Status pending_error_;
  int64_t error_line_ = 0;
};

}  // namespace

Result<std::unique_ptr<CsvReader>> CsvReader::open_file(const std::string& path, char delimiter) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return error(StatusCode::kIoError,
                 fmt::format("cannot open CSV file '{}': {}", path, std::strerror(errno)));
  }
  return std::unique_ptr<CsvReader>(new CsvReaderImpl(path, delimiter, f, std::string()));
}

std::unique_ptr<CsvReader> CsvReader::from_string(std::string data, std::string name,
                                                  char delimiter) {
  return std::make_unique<CsvReaderImpl>(std::move(name), delimiter, nullptr, std::move(data));
}

std::unique_ptr<CsvReader> CsvReader::from_string_chunked(std::string data, size_t chunk_bytes,
                                                          std::string name, char delimiter) {
  if (data.empty()) return from_string(std::move(data), std::move(name), delimiter);
  auto backing = std::make_unique<std::string>(std::move(data));
  std::FILE* f = ::fmemopen(backing->data(), backing->size(), "rb");
  if (f == nullptr) return from_string(std::move(*backing), std::move(name), delimiter);
  return std::make_unique<CsvReaderImpl>(std::move(name), delimiter, f, std::string(), chunk_bytes,
                                         std::move(backing));
}

}  // namespace tideline::csv
