/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/apl_rpc_internal.h: what replica/apl_rpc.c (how a call runs:
 * slots, the callback, waiting, the window, verifiers) shares with
 * replica/apl_rpc_sync.c (the synchronous calls, one per procedure).
 * Private to them; the contract is replica/apl_rpc.h.
 */
#ifndef OFSREP_APL_RPC_INTERNAL_H
#define OFSREP_APL_RPC_INTERNAL_H

#include <stdint.h>

#include "replica/apl_rpc.h"
#include "replica/nfsx.h"

/* A handle as libnfs's argument (points into fh: keep fh alive). */
static inline nfs_fh3 apl_fh3(const struct apl_fh *fh)
{
	return (nfs_fh3){ .data = { .data_len = fh->len,
				    .data_val = (char *)fh->data } };
}

void apl_rpc_cb(struct rpc_context *rpc, int status, void *data,
		void *private_data);
struct apl_call *apl_rpc_sync(struct apl_rpc *r, enum apl_rpc_op op,
			      int *rc);
int apl_rpc_wait(struct apl_rpc *r, struct apl_call *c, int queued);
void apl_rpc_verf(struct apl_rpc *r, const uint8_t *verf);

#endif /* OFSREP_APL_RPC_INTERNAL_H */
