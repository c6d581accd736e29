// SPDX-License-Identifier: LGPL-3.0-or-later
// The public header compiles alone as C++, and links (extern "C").
#include <ivshmem.h>

static void on_peer(struct ivshmem *, int, enum ivshmem_peer_event, void *)
{
}

int main()
{
	struct ivshmem *h = nullptr;
	ivshmem_peer_fn *fn = on_peer;

	return ivshmem_on_peer(h, fn, nullptr) == -22 ? 0 : 1;
}
