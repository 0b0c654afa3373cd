#include "rfc3339.hpp"

namespace k8a {

namespace {

bool digits(const char* s, int n, int lo, int hi, int* out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int m, int y) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

}  // namespace

bool parse_rfc3339_ns(const char* s, size_t len, uint64_t* out) {
    // Fixed part: 2006-01-02T15:04:05
    if (len < 19) return false;
    int year, month, day, hour, min, sec;
    if (!digits(s, 4, 0, 9999, &year) || s[4] != '-' || !digits(s + 5, 2, 1, 12, &month) ||
        s[7] != '-' || !digits(s + 8, 2, 1, 31, &day) || s[10] != 'T' ||
        !digits(s + 11, 2, 0, 23, &hour) || s[13] != ':' || !digits(s + 14, 2, 0, 59, &min) ||
        s[16] != ':' || !digits(s + 17, 2, 0, 59, &sec))
        return false;
    if (day > days_in_month(month, year)) return false;
    size_t i = 19;
    // Optional fraction: Go accepts '.' or ',' and any number of digits, keeping nine.
    uint64_t nsec = 0;
    if (i + 1 < len && (s[i] == '.' || s[i] == ',') && s[i + 1] >= '0' && s[i + 1] <= '9') {
        i++;
        int kept = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (kept < 9) {
                nsec = nsec * 10 + uint64_t(s[i] - '0');
                kept++;
            }
            i++;
        }
        for (; kept < 9; kept++) nsec *= 10;
    }
    int64_t offset_s = 0;
    if (i < len && s[i] == 'Z') {
        i++;
    } else {
        int oh, om;
        if (len - i != 6 || (s[i] != '+' && s[i] != '-') || !digits(s + i + 1, 2, 0, 23, &oh) ||
            s[i + 3] != ':' || !digits(s + i + 4, 2, 0, 59, &om))
            return false;
        offset_s = (oh * 60 + om) * 60;
        if (s[i] == '-') offset_s = -offset_s;
        i += 6;
    }
    if (i != len) return false;
    int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset_s;
    // Unsigned arithmetic reproduces Go's int64 wrap-around without undefined behaviour.
    *out = uint64_t(secs) * 1'000'000'000ull + nsec;
    return true;
}

}  // namespace k8a
