// Internal to MemoryStore (memory_store.cpp): an in-process int8 copy of one workspace's vectors,
// scanned by brute force for the vector side of Search (see memory_store.h for why and when).
//
// Each vector is quantised to int8 against its own largest |component| and keeps a scale that also
// divides by its length, so `Top` ranks by approximate cosine; the caller rescores the candidates
// with the exact float vectors. 384 dims: 384 + 20 bytes per vector. Not thread-safe (one store,
// one thread at a time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace oc::memory::internal {

class Int8Index {
 public:
  explicit Int8Index(int dims) : dims_(dims) {}

  int dims() const { return dims_; }
  size_t size() const { return ids_.size(); }
  // Memory held, approximately.
  size_t bytes() const;
  static size_t BytesPerVector(int dims);

  // Inserts or replaces the vector of `id` (a vector of another size is ignored).
  void Put(int64_t id, const std::vector<float>& vector);
  void Remove(int64_t id);

  // The (at most) `k` ids of highest approximate cosine to `query`, best first; among `only` when
  // given (ids not in the index are skipped).
  std::vector<int64_t> Top(const std::vector<float>& query, size_t k, const std::vector<int64_t>* only = nullptr) const;

 private:
  int dims_;
  std::vector<int64_t> ids_;
  std::vector<int8_t> codes_;  // ids_.size() x dims_
  std::vector<float> scales_;  // per vector: max|x| / 127 / |x| (0 for a zero vector)
  std::unordered_map<int64_t, size_t> slots_;
};

}  // namespace oc::memory::internal
