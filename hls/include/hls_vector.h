// A small stand-in for Vitis HLS's hls_vector.h, for C simulation with g++ where
// Vitis is not installed. It keeps the part of hls::vector<T, N> our kernels use:
// construction (default, broadcast, list), element access, and element-wise
// +, -, * whose results are cast back to T, as in Vitis. Only the g++ build puts this
// folder on the include path; a Vitis project uses Vitis's own header.
#ifndef EDGEMOE_HLS_VECTOR_H
#define EDGEMOE_HLS_VECTOR_H

#include <cstddef>
#include <initializer_list>

namespace hls {

template <typename T, std::size_t N>
class vector {
    static_assert(N > 0, "hls::vector needs at least one element");

  public:
    vector() = default;

    // Broadcast: every element equals value.
    vector(const T &value) {
        for (std::size_t i = 0; i < N; ++i) data_[i] = value;
    }

    // Elements in order; missing ones are value-initialized.
    vector(std::initializer_list<T> values) {
        std::size_t i = 0;
        for (const T &value : values) {
            if (i == N) break;
            data_[i++] = value;
        }
        for (; i < N; ++i) data_[i] = T();
    }

    static constexpr std::size_t size() { return N; }

    T &operator[](std::size_t i) { return data_[i]; }
    const T &operator[](std::size_t i) const { return data_[i]; }

    vector &operator+=(const vector &rhs) {
        for (std::size_t i = 0; i < N; ++i) data_[i] = data_[i] + rhs.data_[i];
        return *this;
    }
    vector &operator-=(const vector &rhs) {
        for (std::size_t i = 0; i < N; ++i) data_[i] = data_[i] - rhs.data_[i];
        return *this;
    }
    vector &operator*=(const vector &rhs) {
        for (std::size_t i = 0; i < N; ++i) data_[i] = data_[i] * rhs.data_[i];
        return *this;
    }

    friend vector operator+(vector lhs, const vector &rhs) { return lhs += rhs; }
    friend vector operator-(vector lhs, const vector &rhs) { return lhs -= rhs; }
    friend vector operator*(vector lhs, const vector &rhs) { return lhs *= rhs; }

    friend bool operator==(const vector &lhs, const vector &rhs) {
        for (std::size_t i = 0; i < N; ++i) {
            if (!(lhs.data_[i] == rhs.data_[i])) return false;
        }
        return true;
    }
    friend bool operator!=(const vector &lhs, const vector &rhs) { return !(lhs == rhs); }

  private:
    T data_[N];
};

}  // namespace hls

#endif  // EDGEMOE_HLS_VECTOR_H
