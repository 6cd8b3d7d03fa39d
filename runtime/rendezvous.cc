#include "runtime/rendezvous.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace quiver {

absl::Status Rendezvous::Send(const std::string& key, TensorValue value) {
  DoneCallback waiter;
  {
    MutexLock lock(&mu_);
    if (!abort_status_.ok()) return abort_status_;
    Entry& e = table_[key];
    if (e.has_value)
      return absl::InternalError(absl::StrCat("rendezvous key '", key, "' sent twice"));
    e.has_value = true;
    if (e.waiter) {
      waiter = std::move(e.waiter);
      e.waiter = nullptr;
    } else {
      e.value = std::move(value);
      return absl::OkStatus();
    }
  }
  // Outside the lock: the callback runs the receiving partition's ready nodes.
  waiter(absl::OkStatus(), value);
  return absl::OkStatus();
}

void Rendezvous::RecvAsync(const std::string& key, DoneCallback done) {
  absl::Status status;
  TensorValue value;
  {
    MutexLock lock(&mu_);
    if (abort_status_.ok()) {
      Entry& e = table_[key];
      if (!e.has_value) {
        e.waiter = std::move(done);
        return;
      }
      value = std::move(e.value);
      e.value = TensorValue();
    } else {
      status = abort_status_;
    }
  }
  done(status, value);
}

void Rendezvous::StartAbort(const absl::Status& status) {
  std::vector<DoneCallback> waiters;
  absl::Status s = status.ok() ? absl::CancelledError("step aborted") : status;
  {
    MutexLock lock(&mu_);
    if (!abort_status_.ok()) return;
    abort_status_ = s;
    aborted_.store(true, std::memory_order_release);
    for (auto& [key, e] : table_) {
      if (e.waiter) waiters.push_back(std::move(e.waiter));
    }
    table_.clear();  // drops values nobody will receive now
  }
  for (DoneCallback& w : waiters) w(s, TensorValue());
}

absl::Status Rendezvous::status() const {
  MutexLock lock(&mu_);
  return abort_status_;
}

}  // namespace quiver
