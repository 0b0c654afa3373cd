// Reads a replay file line by line with no line-length limit up to a cap (upstream stops
// the whole stream at 64 KiB; we only skip lines over the cap and go on). A regular file
// is mapped (no copy out of the page cache); a pipe or device is read in chunks.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace k8a {

class LineFile {
public:
    LineFile() = default;
    ~LineFile();
    LineFile(const LineFile&) = delete;
    LineFile& operator=(const LineFile&) = delete;

    // Returns false with `err` set when the file cannot be opened.
    bool open(const std::string& path, std::string& err);
    enum class Result { Line, TooLong, End, Error };
    // Next line without its "\n" and one trailing "\r". A line longer than max_len is
    // consumed and reported as TooLong with its length in *too_long_len.
    Result next(size_t max_len, std::string_view* line, size_t* too_long_len);
    // Fraction of the file consumed, in hundredths of a percent (0..10000).
    uint32_t progress() const;
    const std::string& error() const { return error_; }

private:
    bool refill();
    void prefetch_ahead();
    const char* data() const { return map_ ? map_ : buf_.data(); }

    FILE* f_ = nullptr;
    const char* map_ = nullptr;  // the whole regular file, or nullptr
    uint64_t size_ = 0;
    uint64_t consumed_ = 0;
    std::vector<char> buf_;
    size_t start_ = 0, end_ = 0;
    size_t prefetched_ = 0;  // bytes of the map asked from memory ahead of the reader
    bool eof_ = false;
    std::string error_;
};

}  // namespace k8a
