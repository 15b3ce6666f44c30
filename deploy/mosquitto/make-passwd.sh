#!/bin/sh
# Create (or extend) a Mosquitto password file with one random password per user.
#
#   deploy/mosquitto/make-passwd.sh /etc/mosquitto/regolith.passwd secrets/ rig-1 ops-1 obs-1
#
# Each password is written to SECRETS_DIR/<user>.password (mode 0600) for the
# client that needs it (the rover's [ground] config, `rig-ground --password` or
# $RIG_GROUND_PASSWORD); the password file itself holds only salted hashes.
# Needs mosquitto_passwd (Debian/Ubuntu package "mosquitto").
set -eu
if [ "$#" -lt 3 ]; then
    echo "usage: $0 PASSWORD_FILE SECRETS_DIR USER..." >&2
    exit 2
fi
passwd_file=$1
secrets_dir=$2
shift 2
umask 077
mkdir -p "$secrets_dir"
[ -e "$passwd_file" ] || : > "$passwd_file"
for user in "$@"; do
    case "$user" in
        *[!A-Za-z0-9_.-]*|"") echo "bad user name: $user" >&2; exit 2 ;;
    esac
    password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')
    printf '%s\n' "$password" > "$secrets_dir/$user.password"
    # -b takes the password on the command line: run this on a trusted machine
    mosquitto_passwd -b "$passwd_file" "$user" "$password"
    echo "user $user: password in $secrets_dir/$user.password"
done
