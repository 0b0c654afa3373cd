#include "file_replay.hpp"

#include <time.h>

#include <algorithm>

namespace k8a {

// A line may be an EventList of many events, so the cap is well above maxEventSize; it
// also bounds the time one line takes to parse (a 64 MiB line takes tens of ms).
static constexpr size_t kLineCapEvents = 16;
static constexpr size_t kMaxLineCap = size_t(64) << 20;
// Work of one fill besides the clock: lines read (valid or not) and bytes read from the
// file, so that a file of junk is split over many calls even on a fast machine.
static constexpr uint32_t kLinesPerFill = 1 << 16;
static constexpr uint64_t kBytesPerFill = uint64_t(32) << 20;
// The clock is read once per this many lines, and after every chunk read.
static constexpr uint32_t kLinesPerClockCheck = 64;

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
    std::string_view line;
    size_t too_long = 0;
    const uint64_t deadline = monotonic_ns() + uint64_t(max_ms) * 1000000u;
    const uint64_t bytes_until = file_.bytes_read() + kBytesPerFill;
    for (uint32_t lines = 1; batch.size() < max_events; lines++) {
        bool check_clock = lines % kLinesPerClockCheck == 0;
        switch (file_.next(max_line_, &line, &too_long)) {
            case LineFile::Result::Line:
                read_line(line, sink);
                break;
            case LineFile::Result::TooLong:
                (format_ == Format::Frames ? unwrapper_.reader() : reader_)
                    .skip(Skip::Oversized, "line of %zu bytes skipped (over %zu)", too_long, max_line_);
                break;
            case LineFile::Result::Pending:
                check_clock = true;
                break;
            case LineFile::Result::End:
                return End;
            case LineFile::Result::Error:
                return Failed;
        }
        if (lines >= kLinesPerFill || file_.bytes_read() >= bytes_until || (check_clock && monotonic_ns() >= deadline))
            break;
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
