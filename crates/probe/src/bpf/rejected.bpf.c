// SPDX-License-Identifier: GPL-2.0
/*
 * A program the verifier must refuse: it indexes a map value with a number taken straight from
 * the tracepoint, without a bounds check. It exists only so a test can show that a verifier
 * rejection reaches the user as a readable error naming the program and quoting the verifier.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[4]);
} values SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int unbounded_read(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	if (!v)
		return 0;
	/* newstate is any int as far as the verifier knows: an out-of-bounds read. */
	return (int)v[(__u32)ctx->newstate];
}
