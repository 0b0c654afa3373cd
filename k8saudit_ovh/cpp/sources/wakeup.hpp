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
    // wait() is not lost: the eventfd keeps it). When two waits in a row end soon after
    // they began (a busy stream), the second lasts 0.2 ms more, so that batches hold many
    // events; an isolated burst of a quiet stream gets no added latency.
    void arm();
    void wait(int timeout_ms);
    void disarm();
    // Producer, after publishing an event.
    void notify();

private:
    int fd_;
    std::atomic<bool> armed_{false};
    bool quick_{false};  // consumer only: the last wait ended within kBusyNs
};

}  // namespace k8a
