/*
 * nfsx.h — the one place ofsrep reaches into libnfs 4.0's private API.
 *
 * libnfs 4.0 exports these symbols but declares them only in its private
 * header (libnfs-private.h, not installed).  Declaring them here, once, keeps
 * the guess in one file: if a libnfs upgrade changes a signature, this is
 * the file to fix.  Checked against libnfs 4.0.0 (Debian 12).
 */
#ifndef OFSREP_NFSX_H
#define OFSREP_NFSX_H

#include <stdint.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-mount.h>
#include <nfsc/libnfs-raw-nfs.h>

/* Per-request timeout in milliseconds; expiry calls the request's callback
 * with RPC_STATUS_TIMEOUT, provided rpc_service() runs periodically. */
void rpc_set_timeout(struct rpc_context *rpc, int timeout_ms);
int rpc_get_timeout(struct rpc_context *rpc);

/* 0 disables libnfs's own reconnect loop, which otherwise retries forever
 * and never reports the failure to the caller. */
void rpc_set_autoreconnect(struct rpc_context *rpc, int num_retries);

/* The root file handle from the MOUNT reply of a mounted nfs_context.
 * libnfs 4.0's private struct nfs_fh (libnfs-private.h); the public
 * headers only declare it.  Returns &nfs->rootfh (checked by
 * disassembling nfs_get_rootfh in libnfs.so.13: lea 0x18(%rdi)). */
struct nfs_fh {
	int len;
	char *val;
};
const struct nfs_fh *nfs_get_rootfh(struct nfs_context *nfs);

#endif
