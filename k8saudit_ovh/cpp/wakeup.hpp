// Lets plugin_next_batch sleep until a reader thread has pushed an event (or a timeout):
// no busy polling, and no lock on the ring. Producers signal only while the consumer is
// armed, so a busy stream costs no system call per event.
#pragma once
#include <atomic>

namespace k8a {

class Wakeup {
public:
    Wakeup();
    ~Wakeup();
    Wakeup(const Wakeup&) = delete;
    Wakeup& operator=(const Wakeup&) = delete;
    // Consumer: arm, check the rings once more, then wait (a push between arm() and
    // wait() is not lost: the eventfd keeps it).
    void arm();
    void wait(int timeout_ms);
    void disarm();
    // Producer, after publishing an event.
    void notify();

private:
    int fd_;
    std::atomic<bool> armed_{false};
};

}  // namespace k8a
