#include "file_replay.hpp"

#include <time.h>

#include <algorithm>

namespace k8a {

// A line may be an EventList of many events, so the cap is well above maxEventSize; it
// also bounds the time one line takes to parse (about 10 ns a byte for the densest JSON:
// some 40 ms for the default cap of 4 MiB).
static constexpr size_t kLineCapEvents = 16;
static constexpr size_t kMaxLineCap = size_t(64) << 20;
// Work of one fill besides the clock: steps (a line, valid or not, or a chunk read) and
// bytes read, so that a file of junk is split over many calls even on a fast machine.
static constexpr uint32_t kLinesPerFill = 1 << 16;
static constexpr uint64_t kBytesPerFill = uint64_t(32) << 20;
// The clock is read once per this many lines or bytes read.
static constexpr uint32_t kLinesPerClockCheck = 64;
static constexpr uint64_t kBytesPerClockCheck = 64 << 10;
// A line whose parse takes milliseconds: parsed only as the first work of a call, so that
// a call lasts at most the batch wait or one such parse, not both.
static constexpr size_t kLongLine = 1 << 20;

static uint64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

FileReplay::FileReplay(size_t max_event_size)
    : reader_(max_event_size, &log_),
      unwrapper_(max_event_size, &log_),
      max_line_(std::max(max_event_size, std::min(max_event_size * kLineCapEvents, kMaxLineCap))) {}

bool FileReplay::open(const std::string& path, std::string& err) { return file_.open(path, err); }

FileReplay::Status FileReplay::fill(EventBatch& batch, uint32_t max_events, uint32_t max_ms) {
    BatchSink sink(&batch);
    const uint64_t deadline = monotonic_ns() + uint64_t(max_ms) * 1000000u;
    const uint64_t bytes_until = file_.bytes_read() + kBytesPerFill;
    uint64_t clock_at_bytes = file_.bytes_read() + kBytesPerClockCheck;
    if (holding_) {  // the file leaves the line's bytes alone until the next file_.next()
        holding_ = false;
        read_line(held_, sink);
        if (monotonic_ns() >= deadline) return More;
    }
    std::string_view line;
    size_t too_long = 0;
    for (uint32_t work = 1; batch.size() < max_events; work++) {
        switch (file_.next(max_line_, &line, &too_long)) {
            case LineFile::Result::Line:
                if (line.size() >= kLongLine && work > 1) {
                    held_ = line;
                    holding_ = true;
                    return More;
                }
                read_line(line, sink);
                break;
            case LineFile::Result::TooLong:
                (format_ == Format::Frames ? unwrapper_.reader() : reader_)
                    .skip(Skip::Oversized, "line of %zu bytes skipped (over %zu)", too_long, max_line_);
                break;
            case LineFile::Result::Pending:  // a chunk read, no line ended in it
                break;
            case LineFile::Result::End:
                return End;
            case LineFile::Result::Error:
                return Failed;
        }
        uint64_t bytes = file_.bytes_read();
        if (work >= kLinesPerFill || bytes >= bytes_until) break;
        if (work % kLinesPerClockCheck == 0 || bytes >= clock_at_bytes) {
            clock_at_bytes = bytes + kBytesPerClockCheck;
            if (monotonic_ns() >= deadline) break;
        }
    }
    return More;
}

// The first non-empty line tells the format; in a frames file every line, an empty one
// included, is one frame and "#binary:" marks a binary frame (its content is irrelevant).
void FileReplay::read_line(std::string_view line, EventSink& sink) {
    if (format_ == Format::Unknown) {
        if (line.empty()) return;
        format_ = looks_like_ldp_frame(line) ? Format::Frames : Format::Events;
    }
    if (format_ == Format::Events) {
        reader_.read(line, sink);
        return;
    }
    bool binary = line.rfind("#binary:", 0) == 0;
    unwrapper_.unwrap(binary ? std::string_view() : line, binary, sink);
}

}  // namespace k8a
