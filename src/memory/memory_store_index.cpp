#include "memory/memory_store_index.h"

#include <algorithm>
#include <cmath>

namespace oc::memory::internal {

namespace {

// Quantises `v` to `out` (dims values): each component / max|x| * 127, rounded.
float Quantise(const float* v, int dims, int8_t* out) {
  float max = 0;
  double norm = 0;
  for (int i = 0; i < dims; ++i) {
    max = std::max(max, std::fabs(v[i]));
    norm += double(v[i]) * v[i];
  }
  if (max <= 0 || norm <= 0) {
    std::fill(out, out + dims, int8_t{0});
    return 0;
  }
  for (int i = 0; i < dims; ++i) out[i] = static_cast<int8_t>(std::lround(v[i] / max * 127.0f));
  return static_cast<float>(max / 127.0 / std::sqrt(norm));
}

// Dot products of `rows` consecutive int8 vectors with `query`. Memory-bound at 100k x 384 (38 MB
// per scan); the AVX2 clone (picked at load time where the CPU has it) takes ~2/3 of the time.
__attribute__((target_clones("avx2", "default"))) void DotAll(const int8_t* codes, size_t rows, int dims,
                                                              const int8_t* query, int32_t* out) {
  for (size_t r = 0; r < rows; ++r) {
    const int8_t* a = codes + r * static_cast<size_t>(dims);
    int32_t sum = 0;
    int i = 0;
    for (; i + 32 <= dims; i += 32) {  // fixed-size blocks: a loop the compiler vectorises
      int32_t partial = 0;
      for (int j = 0; j < 32; ++j) partial += int32_t(a[i + j]) * int32_t(query[i + j]);
      sum += partial;
    }
    for (; i < dims; ++i) sum += int32_t(a[i]) * int32_t(query[i]);
    out[r] = sum;
  }
}

}  // namespace

size_t Int8Index::BytesPerVector(int dims) {
  // codes + scale + id + the slot map's node (≈ 32 bytes)
  return static_cast<size_t>(dims) + sizeof(float) + sizeof(int64_t) + 32;
}

size_t Int8Index::bytes() const { return ids_.size() * BytesPerVector(dims_); }

void Int8Index::Put(int64_t id, const std::vector<float>& vector) {
  if (static_cast<int>(vector.size()) != dims_) return;
  auto [it, inserted] = slots_.try_emplace(id, ids_.size());
  if (inserted) {
    ids_.push_back(id);
    codes_.resize(codes_.size() + dims_);
    scales_.push_back(0);
  }
  const size_t slot = it->second;
  scales_[slot] = Quantise(vector.data(), dims_, codes_.data() + slot * dims_);
}

void Int8Index::Remove(int64_t id) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  const size_t slot = it->second, last = ids_.size() - 1;
  if (slot != last) {  // the last vector moves into the hole
    ids_[slot] = ids_[last];
    scales_[slot] = scales_[last];
    std::copy(codes_.begin() + last * dims_, codes_.begin() + (last + 1) * dims_, codes_.begin() + slot * dims_);
    slots_[ids_[slot]] = slot;
  }
  slots_.erase(it);
  ids_.pop_back();
  scales_.pop_back();
  codes_.resize(codes_.size() - dims_);
}

std::vector<int64_t> Int8Index::Top(const std::vector<float>& query, size_t k,
                                    const std::vector<int64_t>* only) const {
  std::vector<int64_t> out;
  if (k == 0 || static_cast<int>(query.size()) != dims_) return out;
  std::vector<int8_t> q(dims_);
  if (Quantise(query.data(), dims_, q.data()) == 0) return out;
  std::vector<size_t> slots;
  if (only) {
    for (int64_t id : *only) {
      auto it = slots_.find(id);
      if (it != slots_.end()) slots.push_back(it->second);
    }
  }
  const size_t count = only ? slots.size() : ids_.size();
  std::vector<int32_t> dots(count);
  if (only) {
    for (size_t i = 0; i < count; ++i) DotAll(codes_.data() + slots[i] * dims_, 1, dims_, q.data(), &dots[i]);
  } else {
    DotAll(codes_.data(), count, dims_, q.data(), dots.data());
  }
  // The best k (score, slot) by a min-heap.
  std::vector<std::pair<float, size_t>> heap;
  heap.reserve(std::min(k, count) + 1);
  auto worse = [](const auto& a, const auto& b) { return a.first > b.first; };
  for (size_t i = 0; i < count; ++i) {
    const size_t slot = only ? slots[i] : i;
    const float score = static_cast<float>(dots[i]) * scales_[slot];
    if (heap.size() < k) {
      heap.emplace_back(score, slot);
      std::push_heap(heap.begin(), heap.end(), worse);
    } else if (score > heap.front().first) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      heap.back() = {score, slot};
      std::push_heap(heap.begin(), heap.end(), worse);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), worse);  // best first
  for (const auto& [score, slot] : heap) out.push_back(ids_[slot]);
  return out;
}

}  // namespace oc::memory::internal
