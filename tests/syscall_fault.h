/* Making system calls fail, for tests of error paths that a working system
 * seldom takes (fstat of an open descriptor, fchmod of one's own folder,
 * setrlimit in a new worker): a seccomp filter answers the chosen calls with
 * an errno before the kernel runs them. A filter cannot be removed and is
 * inherited by children, so install it inside ppx_test_forked. */
#ifndef PPX_TEST_SYSCALL_FAULT_H
#define PPX_TEST_SYSCALL_FAULT_H

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define PPX_TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PPX_TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* One call to fail: syscall nr, every call (arg < 0) or only those whose
 * argument arg has val in its low 32 bits; it fails with errno err. */
typedef struct {
    long nr;
    int arg;
    uint32_t val;
    int err;
} ppx_test_fault;

#define PPX_TEST_MAX_FAULTS 8

/* Installs the filter for this process and its future children. 0, or -1
 * where seccomp or this architecture is not supported (the caller skips). */
static inline int ppx_test_fail_syscalls(const ppx_test_fault *f, int n)
{
#ifndef PPX_TEST_AUDIT_ARCH
    (void)f;
    (void)n;
    return -1;
#else
    enum { NR = offsetof(struct seccomp_data, nr), ARCH = offsetof(struct seccomp_data, arch) };
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    const unsigned low = 4;
#else
    const unsigned low = 0;
#endif
    struct sock_filter prog[4 + 5 * PPX_TEST_MAX_FAULTS + 1];
    int k = 0;
    if (n > PPX_TEST_MAX_FAULTS)
        return -1;
    prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARCH);
    prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PPX_TEST_AUDIT_ARCH, 1, 0);
    prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR);
    for (int i = 0; i < n; i++) {
        /* Five instructions per call: not this call, on to the next block;
         * load the argument (the number again for every call) and compare;
         * fail; reload the number for the next block. */
        unsigned what = f[i].arg < 0 ? NR
                                     : (unsigned)offsetof(struct seccomp_data, args) +
                                           8u * (unsigned)f[i].arg + low;
        uint32_t val = f[i].arg < 0 ? (uint32_t)f[i].nr : f[i].val;
        prog[k++] =
            (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)f[i].nr, 0, 4);
        prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, what);
        prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, val, 0, 1);
        prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                                 SECCOMP_RET_ERRNO | ((uint32_t)f[i].err & 0xffff));
        prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR);
    }
    prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog fp = {.len = (unsigned short)k, .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) != 0) {
        perror("seccomp");
        return -1;
    }
    return 0;
#endif
}

/* Runs fn in a forked child (so a filter it installs ends with it) and
 * returns what it returned; 1 if it died. */
static inline int ppx_test_forked(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0)
        _exit(fn());
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

#endif
