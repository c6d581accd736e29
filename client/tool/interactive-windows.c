/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * ivshmem-client's interactive mode on Windows: there is none
 *
 * It is a peer of an ivshmem-server, which runs on the Linux host only.
 */
#include "tool.h"

int interactive(const char *socket_path, bool verbose)
{
	return fail(EXIT_USAGE, "the interactive mode talks to an "
		    "ivshmem-server and is not available on Windows: give a "
		    "command and --pci ADDRESS (see --help and 'list')");
}
