// SPDX-License-Identifier: GPL-2.0
/*
 * meshbench's TCP latency probe, kernel side. Only tracepoints are used (kprobes do not exist
 * on the target kernels and fentry/fexit are refused), all as typed raw tracepoints (tp_btf):
 * they skip the perf buffer a classic tracepoint fills on every hit, and their arguments are
 * real socket pointers, whose fields are plain loads (CO-RE relocated, so the committed
 * vmlinux.h works on other kernels too).
 *
 * Cost is the design constraint: the read program runs on every request and every response.
 * On a 2-core VM a program's dispatch costs about as much as its body, a clock read more than
 * the rest of it, and a shared hash keyed by the socket about as much again. So there is no
 * program on send at all (both ends of a turn are timed from reads, below), and the read
 * program reads no clock: its times come from the socket's own stamps. Per-socket state has
 * two homes (see `young` and `settled`): kept-alive connections find theirs on the socket
 * itself, and a connection that carries one request does not pay for socket storage.
 *
 * What is measured (all durations in nanoseconds, into per-CPU log-linear histograms):
 *
 *  - connect: active opens, SYN_SENT -> ESTABLISHED on the same socket (connect() sending the
 *    SYN to the SYN-ACK being processed), from sock:inet_sock_set_state, keyed by the socket.
 *  - accept: passive opens, SYN-ACK sent -> the handshake's final ACK received. The listener's
 *    request socket is invisible to these tracepoints, and the child socket only appears when
 *    the final ACK arrives (LISTEN -> SYN_RECV -> ESTABLISHED within the same microsecond), so
 *    timing the child's state changes would measure nothing. What the kernel does measure is
 *    the SYN-ACK's round trip: tcp_rcv_state_process() seeds the child's srtt from it
 *    (tcp_synack_rtt_meas), so at SYN_RECV -> ESTABLISHED `srtt_us >> 3` is exactly that RTT,
 *    in microseconds. Time spent in the accept queue (until accept() returns) is not included.
 *  - lifetime: first state change seen (CLOSE -> SYN_SENT, or LISTEN -> SYN_RECV for the
 *    child) -> CLOSE, for connections that reached ESTABLISHED while the probe ran. Each also
 *    produces an `event` on the ring buffer, with payload bytes (tcplife-style, from
 *    tcp_sock.bytes_acked and .bytes_received, less the SYN and FIN sequence numbers those
 *    count).
 *  - rtt: the socket's smoothed RTT (tcp_sock.srtt_us / 8, the value tcp:tcp_probe reports),
 *    sampled as each burst of reads begins on a socket: once per request or response read.
 *  - server / exchange: request/response turns, timed from sock:sock_recv_length alone (as
 *    recvmsg returns, in the reader's context). A turn begins with a read that follows a
 *    write (the socket's write_seq has moved since the last turn began; further reads before
 *    the next write are more of the same message). Its time is the socket's clock,
 *    tcp_sock.tcp_clock_cache (CLOCK_MONOTONIC, as bpf_ktime_get_ns), which the read itself
 *    refreshes (tcp_rcv_space_adjust), so it is when the read returned. The other end of a
 *    turn is when the data written before it left: by then the peer has acknowledged it, and
 *    RACK keeps the departure of the latest segment acknowledged (see last_departure).
 *      exchange, on the requester's socket: request sent (its last segment left) -> response
 *        read, recorded at that read;
 *      server time, on the responder's socket: request read -> response sent (its last
 *        segment left), recorded at the next request's read, or as the connection starts to
 *        close (FIN_WAIT1 or CLOSE_WAIT), whichever comes first.
 *    The client is the end this host opened (connect); for a connection older than the probe,
 *    the end whose port was not bound by bind() (see guess_role). Only the client's
 *    write -> read turns are exchanges, and only the server's read -> write turns are server
 *    times. Departures come from RACK, which Linux keeps only for connections that negotiated
 *    SACK (the default); without it, turns are not timed.
 *  - counters: retransmitted segments, resets sent and received, payload bytes of closed
 *    connections, failed connects, ring buffer drops.
 *
 * Filters are `const volatile` (rodata, fixed before load):
 *  - ports: up to 8, matched against the local OR the remote port; none = all. This works for
 *    every event, since each tracepoint reports the ports. (At CLOSE -> SYN_SENT the local port
 *    is not chosen yet unless bind() chose it, so an active open is kept by its remote port,
 *    which is what a filter on a server's port wants.)
 *  - pid (tgid) and cgroup v2 id. Most TCP state changes happen in softirq context, where the
 *    "current" task is whichever one was interrupted (on loopback, typically the peer), so the
 *    current pid means nothing there. A socket's owner is therefore recorded only where the
 *    kernel is known to run in the owner's syscall: connect() (-> SYN_SENT), recv, and
 *    close()/shutdown() (ESTABLISHED -> FIN_WAIT1, CLOSE_WAIT -> LAST_ACK). The pid and cgroup
 *    filters are applied to that stored owner. Consequences: an accepted connection's handshake
 *    time is held back until its owner is known (its first read or close) and dropped if it
 *    never becomes known; tcp_probe, retransmit and reset events of sockets whose owner is not
 *    known are not counted while a pid or cgroup filter is set.
 *
 * The kernel does not let a program interrupt itself on one CPU (the inner run is missed).
 * Different programs can nest (a softirq's state change or reset inside a read). The
 * histograms both write (server and accept times) are incremented atomically; every other
 * histogram and counter has one writer per CPU at a time, so plain increments cannot race.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

#define PROBE_AF_INET 2
#define PROBE_AF_INET6 10
#define PROBE_IPPROTO_TCP 6
#define PROBE_MSG_PEEK 2
#define PROBE_SOCK_STREAM 1

#define ST_ESTABLISHED 1
#define ST_SYN_SENT 2
#define ST_SYN_RECV 3
#define ST_FIN_WAIT1 4
#define ST_FIN_WAIT2 5
#define ST_TIME_WAIT 6
#define ST_CLOSE 7
#define ST_CLOSE_WAIT 8
#define ST_LAST_ACK 9
#define ST_LISTEN 10
#define ST_CLOSING 11

/* sock.h's SOCK_BINDPORT_LOCK: bind() chose the port (kept by an accepted socket too). */
#define PROBE_SOCK_BINDPORT_LOCK 8
/* enum sock_flags' SOCK_DONE: the peer's FIN has been processed. */
#define PROBE_SOCK_DONE 1

#define ROLE_CLIENT 1
#define ROLE_SERVER 2

const volatile __u16 filter_ports[FILTER_MAX_PORTS] = {};
const volatile __u32 filter_port_count = 0;
const volatile __u32 filter_pid = 0;
const volatile __u64 filter_cgroup = 0;
/*
 * Cgroup trees (a pod's cgroup and its containers' below it): the levels at which the
 * trees' roots sit, 0 for unused (level 0 is the root, which would be everything), and
 * the roots' ids in `cgroup_trees`. An owner is in when its ancestor at one of the levels
 * is a root.
 */
#define TREE_LEVELS 4
const volatile __u32 filter_tree_levels[TREE_LEVELS] = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_trees SEC(".maps");
/* Per-connection close events cost a ring buffer record each: only when asked for. */
const volatile __u8 emit_events = 0;
/*
 * Raised by user space before each attach after the first (Probe::attach). State made before
 * it is stale (see current_gen): a turn begun before a detach would be timed across it, and
 * a socket closed while detached leaves state that a new socket at its address would inherit.
 */
volatile __u32 attach_generation = 0;

struct hist {
	__u64 slots[HIST_BUCKETS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_COUNT);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CTR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* What is known about one socket, from its first state change (or first read) on. */
struct sock_info {
	__u64 start_ns;   /* first state change; 0 when the connection predates the probe */
	__u64 turn_ns;    /* when the current turn's first read returned; 0 before any */
	__u64 accept_ns;  /* handshake time held back until the owner is known */
	__u64 cgroup;
	__u32 pid;
	__u32 snd_mark;   /* write_seq as the current turn began: beyond it, an answer was written */
	__u32 gen;        /* attach_generation when this state was made; older state is stale */
	__u8 active;
	__u8 established;
	__u8 owner_known;
	__u8 accept_pending;
	__u8 mark_known;
	__u8 role;        /* ROLE_CLIENT or ROLE_SERVER; 0 until known */
	__u8 turns;       /* turns begun while young */
	__u8 settled;     /* lives in `settled` (socket storage), not in `young` */
	__u8 in_tree;     /* the owner is in one of `cgroup_trees` */
	char comm[COMM_LEN];
};

/*
 * A connection's state starts in `young`, a preallocated hash keyed by the socket's address,
 * and moves to `settled`, socket-local storage, as its second turn begins. Socket storage is
 * the cheaper lookup (a few dependent loads from the socket, no hashing), which is what the
 * read program wants on a kept-alive connection; but creating it costs a memcg-charged
 * allocation, and freeing it an RCU grace period, which on a connection per request cost more
 * than all the programs together (10 % of the throughput where the hash alone costs 6 %).
 * Every full socket passes CLOSE, where its `young` entry is deleted; settled state goes with
 * the socket.
 *
 * A preallocated hash reuses a deleted element at once. A program holding a `young` entry
 * while another CPU deletes it (a read racing a reset that closes the socket), or while a
 * softirq's state change writes it during settle(), can therefore lose or misplace one turn's
 * timing; memory stays valid, and neither happens on a connection's ordinary course, where the
 * reads and the closing are in order.
 */
#define SETTLE_TURNS 2
/* User space sets the size (ProbeFilter::max_new_connections); this is only a placeholder. */
#define YOUNG_MAX 65536

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, YOUNG_MAX);
	__type(key, __u64);
	__type(value, struct sock_info);
} young SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_info);
} settled SEC(".maps");

/* Index of the highest set bit; v must not be 0. */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r, shift;

	r = (v > 0xFFFFFFFFULL) << 5;
	v >>= r;
	shift = (v > 0xFFFF) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

/* Must stay identical to bucket_of() in src/kernel.rs. */
static __always_inline __u32 bucket_of(__u64 v)
{
	__u32 p;

	if (v < (2 << HIST_SUB_BITS))
		return (__u32)v;
	p = log2_u64(v);
	return (p - (HIST_SUB_BITS - 1)) * (1 << HIST_SUB_BITS) +
	       (__u32)((v >> (p - HIST_SUB_BITS)) & ((1 << HIST_SUB_BITS) - 1));
}

static __always_inline void hist_record(__u32 id, __u64 ns)
{
	struct hist *h = bpf_map_lookup_elem(&hists, &id);
	__u32 b = bucket_of(ns);

	if (!h)
		return;
	if (b >= HIST_BUCKETS)
		b = HIST_BUCKETS - 1;
	/* Written from the read program and from state changes, which can interrupt it. (`id` is
	 * a constant at every call, so the choice costs nothing.) */
	if (id == HIST_SERVER || id == HIST_ACCEPT)
		__sync_fetch_and_add(&h->slots[b], 1);
	else
		h->slots[b] += 1;
}

static __always_inline void count(__u32 id, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &id);

	if (c)
		*c += n;
}

static __always_inline bool ports_ok(__u16 a, __u16 b)
{
	if (filter_port_count == 0)
		return true;
	for (int i = 0; i < FILTER_MAX_PORTS; i++) {
		if (i >= filter_port_count)
			break;
		if (filter_ports[i] == a || filter_ports[i] == b)
			return true;
	}
	return false;
}

static __always_inline bool owner_filtered(void)
{
	return filter_pid != 0 || filter_cgroup != 0 || filter_tree_levels[0] != 0;
}

/* Whether the current task is in one of `cgroup_trees`. */
static __always_inline bool current_in_tree(void)
{
	for (int i = 0; i < TREE_LEVELS; i++) {
		__u32 level = filter_tree_levels[i];
		if (level == 0)
			break;
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);
		if (id && bpf_map_lookup_elem(&cgroup_trees, &id))
			return true;
	}
	return false;
}

/* Whether a socket passes the pid/cgroup filters; `s` may be NULL (owner unknown). */
static __always_inline bool owner_ok(const struct sock_info *s)
{
	if (!owner_filtered())
		return true;
	if (!s || !s->owner_known)
		return false;
	if (filter_pid && s->pid != filter_pid)
		return false;
	if (filter_cgroup && s->cgroup != filter_cgroup)
		return false;
	if (filter_tree_levels[0] && !s->in_tree)
		return false;
	return true;
}

/*
 * `s` itself, reset as if new when it was made before the latest attach: the socket may have
 * closed while the programs were detached and its address gone to a new one, or have lived
 * through events nobody saw. Either way it now counts as older than the probe.
 */
static __always_inline struct sock_info *current_gen(struct sock_info *s)
{
	__u8 settled;

	if (!s || s->gen == attach_generation)
		return s;
	settled = s->settled;
	__builtin_memset(s, 0, sizeof(*s));
	s->settled = settled;
	s->gen = attach_generation;
	return s;
}

/*
 * The socket's settled state, or NULL. Most sockets have no local storage at all (a
 * connection per request never settles), and saying so takes one load from the socket where
 * the helper is a call: this runs on every state change and every read.
 */
static __always_inline struct sock_info *settled_get(const struct sock *sk)
{
	if (!sk->sk_bpf_storage)
		return NULL;
	return bpf_sk_storage_get(&settled, (struct sock *)sk, NULL, 0);
}

/* The socket's state, or NULL when it has none (not tracked, or not a full socket). */
static __always_inline struct sock_info *sock_get(const struct sock *sk)
{
	struct sock_info *s = settled_get(sk);
	__u64 key = (__u64)sk;

	if (!s)
		s = bpf_map_lookup_elem(&young, &key);
	return current_gen(s);
}

/* Makes `init` the state of a socket that has none; false when `young` is full. */
static __always_inline bool young_put(const struct sock *sk, const struct sock_info *init)
{
	__u64 key = (__u64)sk;

	if (bpf_map_update_elem(&young, &key, init, BPF_ANY)) {
		count(CTR_UNTRACKED, 1);
		return false;
	}
	return true;
}

/* young_put(), and the state it made; NULL when `young` is full. */
static __always_inline struct sock_info *young_new(const struct sock *sk,
						   const struct sock_info *init)
{
	__u64 key = (__u64)sk;

	if (!young_put(sk, init))
		return NULL;
	return bpf_map_lookup_elem(&young, &key);
}

/* New state for a connection older than the probe, whose opening was not seen. Not inlined:
 * zeroing the state on the stack would otherwise be done on every read. */
static __noinline struct sock_info *sock_older(const struct sock *sk)
{
	struct sock_info init = {};

	init.gen = attach_generation;
	return young_new(sk, &init);
}

/* The socket's state, created zeroed if it has none (a connection older than the probe). */
static __always_inline struct sock_info *sock_get_or_new(const struct sock *sk)
{
	struct sock_info *s = sock_get(sk);

	if (s)
		return s;
	/* Closed (reset) with data left to read: no CLOSE would come to delete it. */
	if (sk->__sk_common.skc_state == ST_CLOSE)
		return NULL;
	return sock_older(sk);
}

/*
 * Moves a young socket's state to socket storage; `s` is gone once this returns. When the
 * storage cannot be had, the state stays young.
 */
static __always_inline void settle(const struct sock *sk, const struct sock_info *s)
{
	struct sock_info *t;
	__u64 key = (__u64)sk;

	t = bpf_sk_storage_get(&settled, (struct sock *)sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!t)
		return;
	__builtin_memcpy(t, s, sizeof(*t));
	t->settled = 1;
	bpf_map_delete_elem(&young, &key);
}

/* Records the current task as the socket's owner; call only from the owner's syscalls. */
static __always_inline void claim_owner(struct sock_info *s)
{
	if (s->owner_known)
		return;
	s->owner_known = 1;
	/* Who owns it matters only to the filters and the close events. */
	if (!owner_filtered() && !emit_events)
		return;
	s->pid = bpf_get_current_pid_tgid() >> 32;
	s->cgroup = bpf_get_current_cgroup_id();
	s->in_tree = filter_tree_levels[0] ? current_in_tree() : 0;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	if (s->accept_pending) {
		s->accept_pending = 0;
		if (owner_ok(s))
			hist_record(HIST_ACCEPT, s->accept_ns);
	}
}

/*
 * Starts the state of a socket whose life starts now: new, or reset if the socket was used
 * before (connect() again after a failed one, or after disconnecting). An active open starts
 * in connect(), the owner's context, so its owner is claimed here.
 */
static __always_inline void sock_start(const struct sock *sk, __u64 start_ns, __u8 active)
{
	struct sock_info *s = settled_get(sk);
	struct sock_info init = {};

	init.start_ns = start_ns;
	init.active = active;
	init.role = active ? ROLE_CLIENT : ROLE_SERVER;
	init.gen = attach_generation;
	if (s) {
		init.settled = 1;
		__builtin_memcpy(s, &init, sizeof(*s));
		if (active)
			claim_owner(s);
		return;
	}
	/*
	 * Unless someone asks who owns it, that it is known is all a claim records, and it goes
	 * in with the rest: finding the new state again would cost a second hash lookup on every
	 * connection.
	 */
	if (!active || (!owner_filtered() && !emit_events)) {
		init.owner_known = active;
		young_put(sk, &init);
		return;
	}
	s = young_new(sk, &init);
	if (s)
		claim_owner(s);
}

/*
 * The role of a connection older than the probe, whose opening was not seen: the end whose
 * port was chosen by bind() (which an accepted socket inherits from its listener) serves;
 * failing that, the end with the lower port, as services sit below the ephemeral range.
 */
static __always_inline __u8 guess_role(const struct sock *sk)
{
	if (sk->sk_userlocks & PROBE_SOCK_BINDPORT_LOCK)
		return ROLE_SERVER;
	return sk->__sk_common.skc_num < bpf_ntohs(sk->__sk_common.skc_dport) ? ROLE_SERVER
									   : ROLE_CLIENT;
}

/*
 * Whether a full socket is TCP's, so that it is a tcp_sock. (A raw socket can say
 * IPPROTO_TCP too.) The cast that follows costs nothing, where bpf_skc_to_tcp_sock() is a
 * helper call on every read.
 */
static __always_inline bool is_tcp(const struct sock *sk)
{
	return sk && sk->sk_protocol == PROBE_IPPROTO_TCP && sk->sk_type == PROBE_SOCK_STREAM;
}

/* Whether a socket's own ports (local, remote) pass the port filter. */
static __always_inline bool sock_ports_ok(const struct sock *sk)
{
	return ports_ok(sk->__sk_common.skc_num, bpf_ntohs(sk->__sk_common.skc_dport));
}

/*
 * Now, by the socket's own clock (tcp_clock_cache, CLOCK_MONOTONIC like bpf_ktime_get_ns):
 * TCP refreshes it as it processes arriving segments (as a SYN-ACK is handled), as it
 * transmits, and as a read consumes data (so after a read it says when the read ran).
 * Reading it costs one load from a line TCP has just written, where a clock read costs more
 * than the rest of a program on a VM. If it has not moved since `since`, the clock is read
 * after all.
 */
static __always_inline __u64 sock_clock(const struct tcp_sock *tp, __u64 since)
{
	__u64 now = tp->tcp_clock_cache;

	return now > since ? now : bpf_ktime_get_ns();
}

/*
 * When the data this socket sent last left, in ns by the socket's clock; 0 when that cannot
 * be told. Once the peer has acknowledged all of it, RACK has recorded the departure of the
 * latest segment acknowledged (rack.mstamp, in us, with rack.end_seq where that segment
 * ended); the socket's last transmission time (tcp_wstamp_ns) refines it to the nanosecond
 * when it falls in the same microsecond, i.e. when nothing (such as a pure ACK) has left
 * since. RACK is kept only with SACK (Linux's default); without it nothing can be told. Data
 * still unacknowledged left at the last transmission.
 */
static __always_inline __u64 last_departure(const struct tcp_sock *tp)
{
	__u64 wstamp = tp->tcp_wstamp_ns;
	__u64 us_ns;

	if (tp->snd_una != tp->snd_nxt)
		return wstamp;
	if (tp->rack.end_seq != tp->snd_una)
		return 0;
	us_ns = tp->rack.mstamp * 1000;
	if (wstamp >= us_ns && wstamp < us_ns + 1000)
		return wstamp;
	return us_ns + 500;
}

/*
 * Ends a responder's turn if it has written an answer since the turn's first read: records
 * the server time, request read -> answer sent. Called at the next read and as the connection
 * starts to close, whichever comes first.
 */
static __always_inline void finish_turn(const struct tcp_sock *tp, struct sock_info *s)
{
	__u64 sent;

	/* A turn (turn_ns) always starts with its mark set. */
	if (s->role != ROLE_SERVER || !s->turn_ns || tp->write_seq == s->snd_mark)
		return;
	sent = last_departure(tp);
	if (sent > s->turn_ns)
		hist_record(HIST_SERVER, sent - s->turn_ns);
	/* Ended: a later state change (whose FIN moves write_seq) must not end it again. */
	s->turn_ns = 0;
}

/* What the state-change program knows of a socket; read once from `struct sock`. */
struct change {
	const struct sock *sk;
	const struct tcp_sock *tp;
	int old;
	__u16 family;
	__u16 sport;
	__u16 dport;
};

static __always_inline void on_close(const struct change *c, struct sock_info *s, __u64 now)
{
	const struct tcp_sock *tp = c->tp;
	int old = c->old;
	__u64 acked, received, fin_out = 0, fin_in = 0;
	struct event *e;

	if (!ports_ok(c->sport, c->dport) || !owner_ok(s))
		return;
	finish_turn(tp, s); /* aborted before FIN_WAIT1 or CLOSE_WAIT */
	if (!s->established) {
		if (old == ST_SYN_SENT)
			count(CTR_CONNECT_FAILURES, 1);
		return;
	}
	if (!s->start_ns)
		return; /* opened before the probe started: no lifetime */

	/*
	 * bytes_acked counts our SYN (active opens) and our FIN once acked; bytes_received counts
	 * the peer's FIN once processed, which is when tcp_fin() sets SOCK_DONE. (FIN_WAIT2 ->
	 * CLOSE is not always the peer's FIN: a closed socket waiting in FIN_WAIT2 moves to a
	 * TIME_WAIT socket, and the full socket closes, before it comes.) FIN_WAIT2 means our FIN
	 * was acked; from LAST_ACK or CLOSING, snd_una says whether it was.
	 */
	acked = tp->bytes_acked;
	received = tp->bytes_received;
	fin_in = (c->sk->__sk_common.skc_flags >> PROBE_SOCK_DONE) & 1;
	if (old == ST_FIN_WAIT2)
		fin_out = 1;
	else if (old == ST_LAST_ACK || old == ST_CLOSING)
		fin_out = tp->snd_una == tp->write_seq ? 1 : 0;
	acked -= (s->active ? 1 : 0) + fin_out;
	if ((__s64)acked < 0)
		acked = 0;
	received -= fin_in;
	if ((__s64)received < 0)
		received = 0;

	hist_record(HIST_LIFETIME, now - s->start_ns);
	count(s->active ? CTR_ACTIVE_CLOSED : CTR_PASSIVE_CLOSED, 1);
	count(CTR_BYTES_SENT, acked);
	count(CTR_BYTES_RECEIVED, received);

	if (!emit_events)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CTR_EVENTS_DROPPED, 1);
		return;
	}
	e->duration_ns = now - s->start_ns;
	e->bytes_sent = acked;
	e->bytes_received = received;
	e->cgroup = s->cgroup;
	e->pid = s->pid;
	e->family = c->family;
	e->sport = c->sport;
	e->dport = c->dport;
	e->active = s->active;
	e->owner_known = s->owner_known;
	/* The verifier only allows constant-offset loads from the context, hence the helper. */
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	if (c->family == PROBE_AF_INET) {
		bpf_probe_read_kernel(e->saddr, 4, &c->sk->__sk_common.skc_rcv_saddr);
		bpf_probe_read_kernel(e->daddr, 4, &c->sk->__sk_common.skc_daddr);
	} else {
		bpf_probe_read_kernel(e->saddr, 16, &c->sk->__sk_common.skc_v6_rcv_saddr);
		bpf_probe_read_kernel(e->daddr, 16, &c->sk->__sk_common.skc_v6_daddr);
	}
	__builtin_memcpy(e->comm, s->comm, COMM_LEN);
	/* Read once a second by polling: nobody waits to be woken. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/* Typed (BTF) raw tracepoint, like the read program: no perf buffer to fill on every change. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, const int old, const int new)
{
	struct change c = {.sk = sk, .old = old};
	bool claim = (old == ST_ESTABLISHED && new == ST_FIN_WAIT1) ||
		     (old == ST_CLOSE_WAIT && new == ST_LAST_ACK);
	/* The first sign of the end, from either side: a responder's last turn ends here. */
	bool ending = new == ST_FIN_WAIT1 || new == ST_CLOSE_WAIT;
	struct sock_info *s;

	/*
	 * Some of a connection's state changes matter to nothing measured here; they leave
	 * before any field read, clock read or map access (this runs ~10 times per connection).
	 * The owner claim at the last close() matters only when someone asks about owners.
	 */
	if (claim && !ending) {
		if (!owner_filtered() && !emit_events)
			return 0;
	} else if (!ending && new != ST_SYN_SENT && new != ST_SYN_RECV &&
		   new != ST_ESTABLISHED && new != ST_CLOSE) {
		return 0;
	}
	if (!is_tcp(sk))
		return 0;
	c.tp = bpf_core_cast(sk, struct tcp_sock);
	c.family = sk->__sk_common.skc_family;
	if (c.family != PROBE_AF_INET && c.family != PROBE_AF_INET6)
		return 0;
	/* The ports as sock:inet_sock_set_state reports them: inet_sock's, which (unlike
	 * skc_num) still hold when a closing socket has handed its port to a TIME_WAIT one. */
	c.sport = bpf_ntohs(c.tp->inet_conn.icsk_inet.inet_sport);
	c.dport = bpf_ntohs(sk->__sk_common.skc_dport);

	if (new == ST_SYN_SENT) {
		/* connect(): the owner's context. The local port is 0 here unless bind() chose one,
		 * so the remote port decides. */
		if (ports_ok(c.sport, c.dport))
			sock_start(sk, bpf_ktime_get_ns(), 1);
		return 0;
	}
	if (new == ST_SYN_RECV) {
		/* The child of a listener, created as the handshake's final ACK arrives (softirq). */
		if (ports_ok(c.sport, c.dport))
			sock_start(sk, bpf_ktime_get_ns(), 0);
		return 0;
	}

	s = sock_get(sk);
	if (!s)
		return 0; /* not tracked: outside the filter, or older than the probe */
	if (claim || ending) {
		if (claim) /* close() or shutdown(): the owner's context. */
			claim_owner(s);
		if (ending && ports_ok(c.sport, c.dport) && owner_ok(s))
			finish_turn(c.tp, s);
		return 0;
	}
	if (new == ST_ESTABLISHED) {
		s->established = 1;
		/* The SYN is sent and acked: what is written from here on is payload. */
		s->snd_mark = c.tp->write_seq;
		s->mark_known = 1;
		if (!ports_ok(c.sport, c.dport))
			return 0;
		if (old == ST_SYN_SENT) {
			/* start_ns is 0 when the SYN went while the programs were detached. */
			if (s->start_ns && owner_ok(s))
				hist_record(HIST_CONNECT, sock_clock(c.tp, s->start_ns) - s->start_ns);
		} else if (old == ST_SYN_RECV) {
			__u64 srtt_us = c.tp->srtt_us >> 3;

			if (!srtt_us)
				return 0; /* no RTT sample (e.g. the SYN-ACK was retransmitted) */
			if (!owner_filtered()) {
				hist_record(HIST_ACCEPT, srtt_us * 1000);
			} else if (s->owner_known) {
				if (owner_ok(s))
					hist_record(HIST_ACCEPT, srtt_us * 1000);
			} else {
				s->accept_ns = srtt_us * 1000;
				s->accept_pending = 1;
			}
		}
		return 0;
	}
	/* new == ST_CLOSE */
	on_close(&c, s, bpf_ktime_get_ns());
	if (s->settled) {
		/* The storage goes with the socket; until then nothing must count twice. */
		s->established = 0;
		s->start_ns = 0;
	} else {
		__u64 key = (__u64)sk;

		bpf_map_delete_elem(&young, &key);
	}
	return 0;
}

/*
 * Retransmits and resets, typed raw tracepoints like the rest: the socket they come with is a
 * real pointer, so its state (and owner) can be found. The ports are read as
 * tcp:tcp_retransmit_skb and friends report them.
 */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(handle_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	if (!sk || !sock_ports_ok(sk))
		return 0;
	if (owner_filtered() && !owner_ok(sock_get(sk)))
		return 0;
	count(CTR_RETRANSMITS, 1);
	return 0;
}

/*
 * A reset is sent for a socket (full, request or TIME_WAIT: the ports sit in the part they
 * share), or, with no socket at all, in reply to the segment `skb`, whose header then holds
 * the ports the other way round.
 */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(handle_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	__u16 sport, dport;

	if (sk) {
		sport = sk->__sk_common.skc_num;
		dport = bpf_ntohs(sk->__sk_common.skc_dport);
	} else {
		struct tcphdr th = {};

		if (!skb || bpf_probe_read_kernel(&th, sizeof(th), BPF_CORE_READ(skb, data)))
			return 0;
		sport = bpf_ntohs(th.dest);
		dport = bpf_ntohs(th.source);
	}
	if (!ports_ok(sport, dport))
		return 0;
	if (owner_filtered() && (!sk || !owner_ok(sock_get(sk))))
		return 0;
	count(CTR_RESETS_SENT, 1);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(handle_receive_reset, struct sock *sk)
{
	if (!sk || !sock_ports_ok(sk))
		return 0;
	if (owner_filtered() && !owner_ok(sock_get(sk)))
		return 0;
	count(CTR_RESETS_RECEIVED, 1);
	return 0;
}

/*
 * Reads are where turns are timed: the answer to a request has left by the time the next
 * request is read, and the request has left by the time its answer is read, and both times
 * are on the socket by then (see last_departure). So sends need no program, which halves the
 * probe's work per request.
 */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(handle_recv, struct sock *sk, int ret, int flags)
{
	struct tcp_sock *tp;
	struct sock_info *s;
	bool wrote;
	__u64 now;
	__u32 srtt;
	__u16 family;

	if (ret <= 0 || (flags & PROBE_MSG_PEEK) || !is_tcp(sk))
		return 0;
	tp = bpf_core_cast(sk, struct tcp_sock);
	family = sk->__sk_common.skc_family;
	if (family != PROBE_AF_INET && family != PROBE_AF_INET6)
		return 0;
	if (!sock_ports_ok(sk))
		return 0;
	s = sock_get_or_new(sk);
	if (!s)
		return 0;
	claim_owner(s);
	if (!owner_ok(s))
		return 0;
	/* Nothing written since this turn's first read: more of the same request or answer. */
	wrote = s->mark_known && tp->write_seq != s->snd_mark;
	if (s->turn_ns && !wrote)
		return 0;
	now = sock_clock(tp, s->turn_ns);
	/*
	 * RTT: the socket's smoothed RTT as each turn's reading begins, i.e. once per request or
	 * response read. (tcp:tcp_probe gives the same srtt for every segment received, at a cost
	 * on every segment; this samples it once per turn instead.)
	 */
	srtt = tp->srtt_us >> 3;
	if (srtt)
		hist_record(HIST_RTT, (__u64)srtt * 1000);
	if (!s->role)
		s->role = guess_role(sk);
	/*
	 * Only the requester's turnaround is an exchange and only the responder's a server time:
	 * a client's write after its read is its own think time, a server's read after its write
	 * the wait for the next request.
	 */
	if (wrote && s->role == ROLE_CLIENT) {
		__u64 sent = last_departure(tp);

		if (sent && sent < now)
			hist_record(HIST_EXCHANGE, now - sent);
	} else {
		finish_turn(tp, s);
	}
	s->turn_ns = now;
	s->snd_mark = tp->write_seq;
	s->mark_known = 1;
	if (!s->settled && ++s->turns >= SETTLE_TURNS)
		settle(sk, s);
	return 0;
}

/* Makes `struct event` part of the object's BTF, so the skeleton generates its Rust type. */
struct event *unused_event_type __attribute__((unused));
