// Reads a replay file line by line, in bounded memory and bounded work per call, without
// ever blocking: only regular files of ordinary filesystems are accepted (a device, a FIFO
// or a /proc file could block Falco's thread or never end), and they are read with pread
// into a buffer, not mapped (a mapped file truncated under us would kill Falco with
// SIGBUS). The file is replayed up to the size it had at open.
// No line-length limit up to a cap (upstream stops the whole stream at 64 KiB; we only skip
// lines over the cap and go on); a longer line is dropped as it is read, never held.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace k8a {

class LineFile {
public:
    LineFile() = default;
    ~LineFile();
    LineFile(const LineFile&) = delete;
    LineFile& operator=(const LineFile&) = delete;

    // Returns false with `err` set when `path` is not a readable regular file.
    bool open(const std::string& path, std::string& err);
    enum class Result { Line, TooLong, Pending, End, Error };
    // Next line without its "\n" and one trailing "\r", reading at most one chunk of the
    // file. Pending: a chunk was read but no line ended in it (call again). A line longer
    // than max_len is reported once, as TooLong with its length in *too_long_len.
    // `line` stays valid until the next call.
    Result next(size_t max_len, std::string_view* line, size_t* too_long_len);
    // Bytes of the file read (or passed over in a hole) so far.
    uint64_t bytes_read() const { return read_at_; }
    // Fraction of the file consumed, in hundredths of a percent (0..10000).
    uint32_t progress() const;
    const std::string& error() const { return error_; }

private:
    Result read_chunk(size_t max_len);
    void skip_hole();
    Result finish_line(size_t from, size_t n, size_t max_len, std::string_view* line, size_t* too_long_len);

    int fd_ = -1;
    std::string path_;
    uint64_t size_ = 0;      // at open: the replay ends there
    uint64_t read_at_ = 0;   // file offset of the next read
    uint64_t consumed_ = 0;  // bytes of the file handed out as lines (or dropped)
    std::unique_ptr<char[]> buf_;
    size_t capacity_ = 0;
    size_t start_ = 0, end_ = 0;  // unread bytes of buf_
    size_t scanned_ = 0;          // [start_, scanned_) holds no "\n"
    size_t dropped_ = 0;          // bytes of an over-long line already thrown away
    std::string error_;
};

}  // namespace k8a
