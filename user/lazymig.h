/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: the subcommands.  Each returns the process exit status.
 */
#ifndef LAZYMIG_H
#define LAZYMIG_H

#define LAZYMIG_TOOL_VERSION "0.1"

int cmd_dump(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_faultlat(int argc, char **argv);

#endif
