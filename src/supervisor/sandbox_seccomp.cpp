// The seccomp program of the sandbox (see BuildSeccompFilter in sandbox.h): hand-written classic
// BPF over struct seccomp_data. Only short forward jumps are used (each test skips one or a few
// instructions), so the program cannot outgrow the 8-bit jump offsets.
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>

#include "supervisor/sandbox.h"

namespace oc::supervisor::internal {

namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
constexpr uint32_t kX32Bit = 0x40000000U;  // __X32_SYSCALL_BIT
#elif defined(__aarch64__)
constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#error "the sandbox's seccomp filter knows x86_64 and aarch64 only"
#endif

// Flags of clone(2) that create namespaces. CLONE_NEWTIME (0x80) is left out: in clone's flags
// that bit belongs to the exit signal, and a time namespace can only be made with clone3/unshare.
constexpr uint32_t kCloneNewMask = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                   CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
constexpr uint32_t kSockTypeMask = 0xf;  // the type without SOCK_NONBLOCK/SOCK_CLOEXEC

// Syscalls answered with EPERM. A name missing on an architecture simply is not listed there.
constexpr int kDenied[] = {
    __NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_mount, __NR_umount2,
    __NR_pivot_root, __NR_chroot, __NR_init_module, __NR_finit_module, __NR_delete_module,
    __NR_kexec_load, __NR_bpf, __NR_perf_event_open, __NR_keyctl, __NR_add_key,
    __NR_request_key, __NR_unshare, __NR_setns, __NR_swapon, __NR_swapoff, __NR_reboot,
    __NR_acct, __NR_open_by_handle_at, __NR_userfaultfd, __NR_quotactl, __NR_settimeofday,
    __NR_clock_settime, __NR_clock_adjtime, __NR_adjtimex, __NR_sethostname,
    __NR_setdomainname, __NR_syslog, __NR_vhangup, __NR_kcmp,
#ifdef __NR_kexec_file_load
    __NR_kexec_file_load,
#endif
#ifdef __NR_move_mount
    __NR_move_mount, __NR_open_tree, __NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick,
#endif
#ifdef __NR_mount_setattr
    __NR_mount_setattr,
#endif
#ifdef __NR_quotactl_fd
    __NR_quotactl_fd,
#endif
#ifdef __NR_pidfd_getfd
    __NR_pidfd_getfd,
#endif
#ifdef __NR_io_uring_setup
    __NR_io_uring_setup,  // io_uring would run socket/open operations past this filter
#endif
#ifdef __NR_iopl
    __NR_iopl, __NR_ioperm,
#endif
#ifdef __NR_umount
    __NR_umount,
#endif
};

constexpr uint32_t Errno(int e) { return SECCOMP_RET_ERRNO | (static_cast<uint32_t>(e) & SECCOMP_RET_DATA); }

class Program {
 public:
  void Load(uint32_t offset) { Add(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset)); }
  void Return(uint32_t action) { Add(BPF_STMT(BPF_RET | BPF_K, action)); }
  void And(uint32_t mask) { Add(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask)); }
  // if (A == k) skip `skip_if_equal` else skip `skip_if_not`.
  void JumpEq(uint32_t k, uint8_t if_equal, uint8_t if_not) { Add(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, if_equal, if_not)); }
  void JumpGe(uint32_t k, uint8_t if_ge, uint8_t if_not) { Add(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, k, if_ge, if_not)); }
  void JumpSet(uint32_t k, uint8_t if_set, uint8_t if_not) { Add(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, k, if_set, if_not)); }
  // `action` when the syscall number (in A) is `nr`; falls through otherwise.
  void OnSyscall(int nr, uint32_t action) {
    JumpEq(static_cast<uint32_t>(nr), 0, 1);
    Return(action);
  }
  std::vector<sock_filter> Take() { return std::move(code_); }

 private:
  void Add(sock_filter f) { code_.push_back(f); }
  std::vector<sock_filter> code_;
};

constexpr uint32_t kNr = offsetof(struct seccomp_data, nr);
constexpr uint32_t kArchOffset = offsetof(struct seccomp_data, arch);
// The low 32 bits of an argument (both architectures are little-endian).
constexpr uint32_t Arg(int n) { return offsetof(struct seccomp_data, args) + 8 * n; }

}  // namespace

std::vector<sock_filter> BuildSeccompFilter(bool allow_network) {
  Program p;
  p.Load(kArchOffset);
  p.JumpEq(kArch, 1, 0);
  p.Return(SECCOMP_RET_KILL_PROCESS);
  p.Load(kNr);
#if defined(__x86_64__)
  p.JumpGe(kX32Bit, 0, 1);
  p.Return(Errno(EPERM));
#endif
  for (int nr : kDenied) p.OnSyscall(nr, Errno(EPERM));
  p.OnSyscall(__NR_clone3, Errno(ENOSYS));
  // clone: A = flags (first argument on both architectures).
  p.JumpEq(__NR_clone, 0, 4);
  p.Load(Arg(0));
  p.JumpSet(kCloneNewMask, 0, 1);
  p.Return(Errno(EPERM));
  p.Return(SECCOMP_RET_ALLOW);
  // socket(domain, type, protocol).
  if (allow_network) {
    p.JumpEq(__NR_socket, 0, 7);
    p.Load(Arg(0));
    p.JumpEq(AF_PACKET, 0, 1);
    p.Return(Errno(EPERM));
    p.Load(Arg(1));
    p.And(kSockTypeMask);
    p.JumpEq(SOCK_RAW, 0, 1);
    p.Return(Errno(EPERM));
  } else {
    p.JumpEq(__NR_socket, 0, 3);
    p.Load(Arg(0));
    p.JumpEq(AF_UNIX, 1, 0);
    p.Return(Errno(EPERM));
  }
  p.Return(SECCOMP_RET_ALLOW);
  return p.Take();
}

}  // namespace oc::supervisor::internal
