#!/bin/sh
# migr-notice-watch.sh: the guest-side notice watcher for guests with Xen's xenstore tools
# (Debian: xenstore-utils). Same behaviour as migr-notice.c: on a maintenance notice it
# runs the preparation command given as $1 (if any), then acks with the event id.
#
#   migr-notice-watch.sh ['systemctl stop my-batch-job']
#
# Paths are relative to the guest's own xenstore home (/local/domain/DOMID).
set -u
prep=${1:-}
last=""
xenstore-watch migr/maintenance-event | while read -r _path; do
	ev=$(xenstore-read migr/maintenance-event 2>/dev/null) || ev=NONE
	case $ev in
	MIGRATE_ON_HOST_MAINTENANCE|TERMINATE_ON_HOST_MAINTENANCE) ;;
	*) [ "$last" != NONE ] && echo "migr-notice: NONE"; last=NONE; continue ;;
	esac
	id=$(xenstore-read migr/event-id 2>/dev/null) || continue
	# The id must be a short token, as migrd checks it (never run or echo anything else).
	case $id in
	''|*[!A-Za-z0-9._:@+-]*) continue ;;
	esac
	[ ${#id} -le 64 ] || continue
	[ "$id" = "$last" ] && continue
	last=$id
	echo "migr-notice: $ev event=$id deadline=$(xenstore-read migr/deadline 2>/dev/null)"
	if [ -n "$prep" ]; then
		MIGR_EVENT=$ev MIGR_EVENT_ID=$id sh -c "$prep"
		echo "migr-notice: preparation exited $?"
	fi
	if [ "$ev" = MIGRATE_ON_HOST_MAINTENANCE ]; then
		xenstore-write migr/ack "$id" && echo "migr-notice: acked $id"
	fi
done
