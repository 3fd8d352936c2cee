/* veth_channels.c — LD_PRELOAD shim for bench/xdp_bench.py: a veth's paired RX/TX queues
 * reported as combined channels, so that Knot opens one XDP socket per queue. */
/*
 * Knot (libknot knot_eth_queues) sizes its XDP sockets by ETHTOOL_GCHANNELS'
 * combined_count and falls back to one queue when it is 0.  A veth reports its queues
 * as separate rx_count/tx_count (drivers/net/veth.c veth_get_channels) and never a
 * combined count, although veth_xmit hands a frame sent on TX queue i to the peer's RX
 * queue i: they are pairs, which is what a combined channel means (ethtool(8) -l).
 * This shim rewrites only that answer, only when rx_count == tx_count > 1 and
 * combined_count == 0; every other ioctl goes through unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/ioctl.h>

int ioctl(int fd, unsigned long request, ...)
{
	static int (*real)(int, unsigned long, ...);
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (real == NULL)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	int ret = real(fd, request, arg);
	if (ret == 0 && request == SIOCETHTOOL && arg != NULL) {
		struct ethtool_channels *ch = (void *)((struct ifreq *)arg)->ifr_data;
		if (ch->cmd == ETHTOOL_GCHANNELS && ch->combined_count == 0
		    && ch->rx_count > 1 && ch->rx_count == ch->tx_count) {
			ch->combined_count = ch->rx_count;
			ch->max_combined = ch->max_rx < ch->max_tx ? ch->max_rx : ch->max_tx;
		}
	}
	return ret;
}
