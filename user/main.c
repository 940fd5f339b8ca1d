// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: command-line entry point.  Each subcommand lives in the file
 * that owns its stage of the data flow (see DESIGN.md); this file only
 * dispatches.  A subcommand whose stage has not landed yet is a weak
 * default that says so and exits 2.
 */
#include <stdio.h>
#include <string.h>
#include "lazymig.h"

#define NOT_YET(fn, name)						\
	__attribute__((weak)) int fn(int argc, char **argv)		\
	{								\
		(void)argc; (void)argv;					\
		fprintf(stderr, "lazymig %s: not implemented yet\n", name); \
		return 2;						\
	}

NOT_YET(cmd_dump, "dump")
NOT_YET(cmd_restore, "restore")
NOT_YET(cmd_send, "send")
NOT_YET(cmd_receive, "receive")
NOT_YET(cmd_info, "info")
NOT_YET(cmd_faultlat, "faultlat")

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "dump", cmd_dump,
	  "dump    -t PID -o FILE [--leave-running]         full checkpoint to a file" },
	{ "restore", cmd_restore,
	  "restore -i FILE [--pidfile F] [--stdio inherit|null|PATH]" },
	{ "send", cmd_send,
	  "send    -t PID --to HOST:PORT [--eager] [--stats F] [--token-file F] [--tls ...]" },
	{ "receive", cmd_receive,
	  "receive --listen ADDR:PORT [--pidfile F] [--stdio ...] [--stats F] [--token-file F] [--tls ...]" },
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
