/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The entry point every fuzz target defines: libFuzzer calls it with each
 * input it makes; replay.c calls it with each file of a corpus.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
