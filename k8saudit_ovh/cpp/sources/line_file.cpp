#include "line_file.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace k8a {

// One read: large enough that system calls cost little, small enough that its lines are
// still in the CPU cache when they are parsed.
static constexpr size_t kChunk = 256 << 10;

static const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

// Filesystems whose regular files the kernel makes up as they are read: their size says
// nothing, and a read may block (/proc/kmsg) or never end.
static const char* pseudo_filesystem(uint32_t type) {
    switch (type) {
        case PROC_SUPER_MAGIC: return "proc";
        case SYSFS_MAGIC: return "sysfs";
        case DEBUGFS_MAGIC: return "debugfs";
        case TRACEFS_MAGIC: return "tracefs";
        case SECURITYFS_MAGIC: return "securityfs";
        case CGROUP_SUPER_MAGIC:
        case CGROUP2_SUPER_MAGIC: return "cgroup";
        case BPF_FS_MAGIC: return "bpf";
        case EFIVARFS_MAGIC: return "efivarfs";
        case PSTOREFS_MAGIC: return "pstore";
        default: return nullptr;
    }
}

LineFile::~LineFile() {
    if (fd_ >= 0) close(fd_);
}

bool LineFile::open(const std::string& path, std::string& err) {
    auto cannot = [&](int e) {
        err = "cannot open '" + path + "': " + strerror(e);
        return false;
    };
    auto refuse = [&](const std::string& what) {
        err = "file:// replays regular files only: '" + path + "' is " + what;
        return false;
    };
    // stat before open: opening a FIFO without a writer blocks, opening a device may act.
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return cannot(errno);
    if (!S_ISREG(st.st_mode)) return refuse(kind_of(st.st_mode));
    // O_NONBLOCK: the path may have become a FIFO since stat; fstat tells what was opened.
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd_ < 0 || fstat(fd_, &st) != 0) return cannot(errno);
    if (!S_ISREG(st.st_mode)) return refuse(kind_of(st.st_mode));
    struct statfs fs;
    const char* pseudo = fstatfs(fd_, &fs) == 0 ? pseudo_filesystem(uint32_t(fs.f_type)) : nullptr;
    if (pseudo) return refuse(std::string("on the ") + pseudo + " pseudo filesystem");
    buf_.reset(new (std::nothrow) char[kChunk]);
    if (!buf_) return cannot(ENOMEM);
    capacity_ = kChunk;
    size_ = uint64_t(st.st_size);
    path_ = path;
    posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    return true;
}

LineFile::Result LineFile::next(size_t max_len, std::string_view* line, size_t* too_long_len) {
    for (bool read = false;; read = true) {
        const char* nl = static_cast<const char*>(memchr(buf_.get() + scanned_, '\n', end_ - scanned_));
        if (nl) {
            size_t from = start_, n = size_t(nl - buf_.get()) - from;
            start_ = scanned_ = from + n + 1;
            consumed_ += n + 1;
            return finish_line(from, n, max_len, line, too_long_len);
        }
        scanned_ = end_;
        if (dropped_ || end_ - start_ > max_len + 1) {  // over-long (+1: a "\r" that is trimmed)
            dropped_ += end_ - start_;
            consumed_ += end_ - start_;
            start_ = scanned_ = end_ = 0;
        }
        if (read_at_ >= size_) {  // the end of the file as it was at open
            if (start_ == end_ && dropped_ == 0) return Result::End;
            size_t from = start_, n = end_ - start_;  // a last line without "\n"
            start_ = scanned_ = end_;
            consumed_ += n;
            return finish_line(from, n, max_len, line, too_long_len);
        }
        if (read) return Result::Pending;
        if (read_chunk(max_len) == Result::Error) return Result::Error;
    }
}

LineFile::Result LineFile::finish_line(size_t from, size_t n, size_t max_len, std::string_view* line,
                                       size_t* too_long_len) {
    const char* base = buf_.get() + from;
    size_t len = (n > 0 && base[n - 1] == '\r') ? n - 1 : n;
    if (dropped_ || len > max_len) {
        *too_long_len = dropped_ + len;
        dropped_ = 0;
        return Result::TooLong;
    }
    *line = std::string_view(base, len);
    return Result::Line;
}

// Moves the unread part of a line to the front and reads one chunk after it; grows the
// buffer only when that part fills it, which a line under max_len + 1 bytes may do.
LineFile::Result LineFile::read_chunk(size_t max_len) {
    if (start_ > 0) {
        memmove(buf_.get(), buf_.get() + start_, end_ - start_);
        end_ -= start_;
        scanned_ -= start_;
        start_ = 0;
    }
    if (end_ == capacity_) {
        size_t grown = std::min(2 * capacity_, max_len + kChunk);
        std::unique_ptr<char[]> bigger(new (std::nothrow) char[grown]);
        if (!bigger) {
            error_ = "out of memory for a line of over " + std::to_string(end_) + " bytes";
            return Result::Error;
        }
        memcpy(bigger.get(), buf_.get(), end_);
        buf_ = std::move(bigger);
        capacity_ = grown;
    }
    if (dropped_) skip_hole();
    size_t want = size_t(std::min<uint64_t>({capacity_ - end_, kChunk, size_ - read_at_}));
    ssize_t got;
    do got = pread(fd_, buf_.get() + end_, want, off_t(read_at_));
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        error_ = "cannot read '" + path_ + "': " + strerror(errno);
        return Result::Error;
    }
    if (got == 0) size_ = read_at_;  // the file shrank since open: it ends here
    read_at_ += uint64_t(got);
    end_ += size_t(got);
    return Result::Pending;
}

// While a line is dropped, a hole of a sparse file (NULs: no line ends there) is passed
// over unread: reading it would only fill the page cache with zeros.
void LineFile::skip_hole() {
    off_t data = lseek(fd_, off_t(read_at_), SEEK_DATA);
    uint64_t to = data >= 0 ? uint64_t(data) : errno == ENXIO ? size_ : read_at_;  // ENXIO: a hole to the end
    if (to <= read_at_) return;
    to = std::min(to, size_);
    dropped_ += to - read_at_;
    consumed_ += to - read_at_;
    read_at_ = to;
}

uint32_t LineFile::progress() const {
    if (size_ == 0) return 10000;
    uint64_t p = consumed_ * 10000 / size_;
    return uint32_t(p > 10000 ? 10000 : p);
}

}  // namespace k8a
