// The file:// source: replays a file of audit events (JSON Lines of Events, EventLists
// or arrays) or of LDP frames (one frame per line, as the corpus stores them) into
// batches, synchronously on Falco's event thread: each fill does bounded work, so that
// next_batch returns within the batch wait whatever the file holds.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "audit_reader.hpp"
#include "event_batch.hpp"
#include "ldp_frame.hpp"
#include "line_file.hpp"
#include "rate_log.hpp"

namespace k8a {

class FileReplay {
public:
    explicit FileReplay(size_t max_event_size);
    bool open(const std::string& path, std::string& err);
    enum Status { More = 0, End = 1, Failed = 2 };
    // Appends up to max_events events to batch (more if the last line held several),
    // stopping with More after about max_ms or a bounded amount of input, with or without
    // events: the next call goes on where this one stopped.
    Status fill(EventBatch& batch, uint32_t max_events, uint32_t max_ms);
    uint32_t progress() const { return file_.progress(); }
    const ReaderCounters& counters() const {
        return format_ == Format::Frames ? unwrapper_.reader().counters : reader_.counters;
    }
    const FrameCounters& frame_counters() const { return unwrapper_.counters; }
    bool holds_frames() const { return format_ == Format::Frames; }
    const std::string& error() const { return file_.error(); }

private:
    void read_line(std::string_view line, EventSink& sink);

    enum class Format { Unknown, Events, Frames };
    RateLimitedLog log_;
    AuditReader reader_;         // a file of audit events
    FrameUnwrapper unwrapper_;   // a file of LDP frames
    LineFile file_;
    size_t max_line_;  // longer lines are skipped (and never held in memory)
    // A long line read at the end of a call, parsed at the start of the next one.
    std::string_view held_;
    bool holding_ = false;
    Format format_ = Format::Unknown;
};

}  // namespace k8a
