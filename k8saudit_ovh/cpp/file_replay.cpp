#include "file_replay.hpp"

namespace k8a {

// An EventList line may hold many events of up to maxEventSize each, so the line cap is
// far above maxEventSize; it only bounds memory on a corrupt file.
static constexpr size_t kMinLineCap = size_t(64) << 20;

FileReplay::FileReplay(size_t max_event_size)
    : reader_(max_event_size, &log_),
      unwrapper_(max_event_size, &log_),
      max_line_(max_event_size * 16 > kMinLineCap ? max_event_size * 16 : kMinLineCap) {}

bool FileReplay::open(const std::string& path, std::string& err) { return file_.open(path, err); }

FileReplay::Status FileReplay::fill(EventBatch& batch, uint32_t max_events) {
    BatchSink sink(&batch);
    std::string_view line;
    size_t too_long = 0;
    while (batch.size() < max_events) {
        switch (file_.next(max_line_, &line, &too_long)) {
            case LineFile::Result::Line:
                read_line(line, sink);
                break;
            case LineFile::Result::TooLong:
                (format_ == Format::Frames ? unwrapper_.reader() : reader_)
                    .skip(Skip::Oversized, "line of %zu bytes skipped (over %zu)", too_long, max_line_);
                break;
            case LineFile::Result::End:
                return End;
            case LineFile::Result::Error:
                return Failed;
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
