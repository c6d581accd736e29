/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Fuzzes the config file parser: any text is accepted or refused with a
 * one-line reason naming the file and a line, and nothing leaks.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct options o;
	char err[256] = "";
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (options_init(&o) == 0) {
		if (options_load_config(&o, text, "fuzz.conf", err,
					sizeof(err)) < 0 &&
		    (strncmp(err, "fuzz.conf:", 10) != 0 || strchr(err, '\n')))
			abort();
		options_deinit(&o);
	}
	free(text);
	return 0;
}
