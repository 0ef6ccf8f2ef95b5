/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * What the kernel side and user space (src/kernel.rs) agree on: histogram layout, map
 * indices and the per-connection event. The Rust side gets `struct event` from the generated
 * skeleton's types; the constants are mirrored in src/kernel.rs and checked against the
 * loaded maps' sizes at start-up.
 */
#ifndef MESHBENCH_PROBE_H
#define MESHBENCH_PROBE_H

/*
 * Log-linear histogram of nanoseconds. Values below 64 have a bucket each; above, the bucket
 * is (power-of-two index - 4) * 32 + the 5 bits below the top bit, so every bucket is at most
 * 1/32 of its lower bound wide (~3 %; its midpoint is within ~1.6 % of any value in it).
 * The largest u64 lands in bucket (63 - 4) * 32 + 31 = 1919.
 */
#define HIST_SUB_BITS 5
#define HIST_BUCKETS 1920

/* Histograms: keys of the `hists` per-CPU array. */
#define HIST_CONNECT 0  /* active open: SYN_SENT -> ESTABLISHED */
#define HIST_ACCEPT 1   /* passive open: SYN-ACK sent -> its ACK received */
#define HIST_LIFETIME 2 /* first state change -> CLOSE, established connections */
#define HIST_RTT 3      /* tcp_sock srtt, one sample per burst of reads */
#define HIST_SERVER 4   /* request arrived -> response sent, on the responder's socket */
#define HIST_EXCHANGE 5 /* request sent -> response arrived, on the requester's socket */
#define HIST_COUNT 6

/* Counters: keys of the `counters` per-CPU array. */
#define CTR_RETRANSMITS 0
#define CTR_RESETS_SENT 1
#define CTR_RESETS_RECEIVED 2
#define CTR_BYTES_SENT 3     /* payload bytes acked by the peer, summed at close */
#define CTR_BYTES_RECEIVED 4 /* payload bytes received, summed at close */
#define CTR_CONNECT_FAILURES 5 /* SYN_SENT -> CLOSE */
#define CTR_ACTIVE_CLOSED 6  /* closed connections this host opened (connect) */
#define CTR_PASSIVE_CLOSED 7 /* closed connections this host accepted */
#define CTR_EVENTS_DROPPED 8 /* ring buffer full: a close event was lost (counts still hold) */
#define CTR_UNTRACKED 9      /* sockets not measured: the table of young sockets was full */
#define CTR_COUNT 10

#define FILTER_MAX_PORTS 8
#define COMM_LEN 16

/* One closed connection, sent on the `events` ring buffer. */
struct event {
	__u64 duration_ns;    /* first state change -> CLOSE */
	__u64 bytes_sent;     /* payload bytes acked by the peer */
	__u64 bytes_received; /* payload bytes received */
	__u64 cgroup;         /* cgroup v2 id of the owner, 0 when unknown */
	__u32 pid;            /* tgid of the owner, 0 when unknown (see owner in probe.bpf.c) */
	__u16 family;         /* AF_INET (2) or AF_INET6 (10) */
	__u16 sport;          /* local port */
	__u16 dport;          /* remote port */
	__u8 active;          /* 1: this host connected; 0: this host accepted */
	__u8 owner_known;
	__u8 saddr[16]; /* local address: 4 bytes for AF_INET, 16 for AF_INET6 */
	__u8 daddr[16]; /* remote address */
	char comm[COMM_LEN];
};

#endif /* MESHBENCH_PROBE_H */
