#include "line_file.hpp"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace k8a {

static constexpr size_t kChunk = 1 << 20;
// How far ahead of the reader a mapped file is prefetched: a few events, so that memory
// delivers the next lines while the current one is parsed and extracted.
static constexpr size_t kPrefetchAhead = 8 << 10;

LineFile::~LineFile() {
    if (map_) munmap(const_cast<char*>(map_), size_);
    if (f_) fclose(f_);
}

bool LineFile::open(const std::string& path, std::string& err) {
    f_ = fopen(path.c_str(), "rb");
    if (!f_) {
        err = "cannot open '" + path + "': " + strerror(errno);
        return false;
    }
    struct stat st;
    if (fstat(fileno(f_), &st) == 0 && S_ISDIR(st.st_mode)) {
        err = "cannot open '" + path + "': is a directory";
        fclose(f_);
        f_ = nullptr;
        return false;
    }
    size_ = fstat(fileno(f_), &st) == 0 ? uint64_t(st.st_size) : 0;
    if (S_ISREG(st.st_mode) && size_ > 0) {
        void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fileno(f_), 0);
        if (m != MAP_FAILED) {
            madvise(m, size_, MADV_SEQUENTIAL);
            map_ = static_cast<const char*>(m);
            end_ = size_;
            eof_ = true;  // everything is there already
            return true;
        }
    }
    buf_.resize(kChunk);
    return true;
}

// Moves the unread tail to the front and reads more; grows the buffer only when a
// single line fills it.
bool LineFile::refill() {
    if (eof_) return false;
    if (start_ > 0) {
        memmove(buf_.data(), buf_.data() + start_, end_ - start_);
        end_ -= start_;
        start_ = 0;
    }
    if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);
    size_t got = fread(buf_.data() + end_, 1, buf_.size() - end_, f_);
    if (got == 0) {
        if (ferror(f_)) error_ = std::string("read error: ") + strerror(errno);
        eof_ = true;
        return false;
    }
    end_ += got;
    return true;
}

LineFile::Result LineFile::next(size_t max_len, std::string_view* line, size_t* too_long_len) {
    size_t dropped = 0;  // bytes of an over-long line already thrown away
    for (;;) {
        const char* base = data() + start_;
        const char* nl = static_cast<const char*>(memchr(base, '\n', end_ - start_));
        bool at_eof = false;
        if (!nl) {
            if (end_ - start_ > max_len + 1) {  // +1: a "\r" that would be trimmed
                dropped += end_ - start_;
                consumed_ += end_ - start_;
                start_ = end_;
            }
            if (refill()) continue;
            if (!error_.empty()) return Result::Error;
            if (start_ == end_ && dropped == 0) return Result::End;
            at_eof = true;  // a last line without "\n"
            base = data() + start_;
        }
        size_t n = at_eof ? end_ - start_ : size_t(nl - base);
        size_t step = at_eof ? n : n + 1;
        consumed_ += step;
        start_ += step;
        size_t len = (n > 0 && base[n - 1] == '\r') ? n - 1 : n;
        if (dropped || len > max_len) {
            *too_long_len = dropped + len;
            return Result::TooLong;
        }
        *line = std::string_view(base, len);
        if (map_) prefetch_ahead();
        return Result::Line;
    }
}

void LineFile::prefetch_ahead() {
    size_t until = start_ + kPrefetchAhead < size_ ? start_ + kPrefetchAhead : size_;
    if (prefetched_ < start_) prefetched_ = start_;
    for (; prefetched_ < until; prefetched_ += 64) __builtin_prefetch(map_ + prefetched_);
}

uint32_t LineFile::progress() const {
    if (size_ == 0) return eof_ ? 10000 : 0;
    uint64_t p = consumed_ * 10000 / size_;
    return uint32_t(p > 10000 ? 10000 : p);
}

}  // namespace k8a
