#!/bin/sh
# Records its own start and its stop (on TERM) in a shared file: trap_order.sh NAME FILE
echo "start $1" >> "$2"
trap 'echo "stop $1" >> "$2"; exit 0' TERM
while true; do sleep 1 & wait $!; done
