// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: command-line entry point.  Each subcommand lives in the file
 * that owns its stage of the data flow (see DESIGN.md); this file only
 * dispatches.
 */
#include <stdio.h>
#include <string.h>
#include "lazymig.h"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "dump", cmd_dump,
	  "dump    -t PID -o FILE [--tree] [--leave-running] full checkpoint to a file" },
	{ "restore", cmd_restore,
	  "restore -i FILE [--pidfile F] [--stdio inherit|null|PATH]" },
	{ "send", cmd_send,
	  "send    -t PID --to HOST:PORT [--tree] [--eager] [--stats F] [--token-file F] [--tls ...]\n"
	  "                  [--push-rate MIB_PER_S] [--ws-sample MS] [--compress] [--peer-timeout S]" },
	{ "receive", cmd_receive,
	  "receive --listen ADDR:PORT [--pidfile F] [--stdio ...] [--stats F] [--token-file F] [--tls ...]\n"
	  "                  [--peer-timeout S] [--keep-listening]" },
	{ "info", cmd_info,
	  "info    FILE                                       human-readable image" },
	{ "faultlat", cmd_faultlat,
	  "faultlat [-p PID] [-d SECONDS] [--pin DIR]         eBPF fault-latency histogram" },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: lazymig COMMAND [OPTIONS]\n\ncommands:\n");
	for (i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "  lazymig %s\n", commands[i].usage);
	fprintf(f, "\nlazymig --help | --version\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("lazymig %s\n", LAZYMIG_TOOL_VERSION);
		return 0;
	}
	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "lazymig: unknown command '%s' (see lazymig --help)\n",
		argv[1]);
	return 2;
}
