#!/usr/bin/python3
"""A device as in the Kaa tutorial: paho-mqtt over TLS with ca.pem and, for
two-way TLS, client.crt and client.key. Publishes Kaa-style telemetry and
prints one line per connection event so the e2e suite can follow it."""
import argparse
import json
import random
import ssl
import sys
import time

import paho.mqtt.client as mqtt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user", help="the CONNECT user name; with --token, the token's sub")
    p.add_argument("--token", help="a JWT, sent as the CONNECT password")
    p.add_argument("--transport", default="tcp", choices=["tcp", "websockets"])
    p.add_argument("--client-id", default="device-py")
    p.add_argument("--topic", default="kp1/demo-v1/dcx/device-py/json")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--reconnect", action="store_true", help="keep retrying after a drop")
    a = p.parse_args()

    kwargs = {"client_id": a.client_id, "transport": a.transport}
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
        kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
    c = mqtt.Client(**kwargs)
    if a.transport == "websockets":
        c.ws_set_options(path="/mqtt")
    c.tls_set(ca_certs=a.ca, certfile=a.cert, keyfile=a.key, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    if a.token:
        c.username_pw_set(a.user, a.token)

    def say(line):
        print(line, flush=True)

    c.on_connect = lambda cl, ud, flags, rc: say("connected rc=%d" % rc)
    def on_disconnect(cl, ud, rc):
        say("disconnected rc=%d" % rc)
        if not a.reconnect:
            # paho's loop reconnects on its own, fast enough to take a client
            # ID back from another node: without --reconnect one drop ends it.
            cl.disconnect()

    c.on_disconnect = on_disconnect

    deadline = time.time() + a.seconds
    try:
        c.connect(a.host, a.port, keepalive=30)
    except Exception as e:  # the handshake refused us
        say("refused %s" % e.__class__.__name__)
        return 3
    c.loop_start()
    while time.time() < deadline:
        if c.is_connected():
            payload = json.dumps([{"timestamp": int(time.time() * 1000),
                                   "temperature": round(random.uniform(18, 26), 1),
                                   "humidity": random.randint(30, 60)}])
            c.publish(a.topic, payload, qos=0)
            say("published")
        elif not a.reconnect:
            time.sleep(0.3)
            if not c.is_connected():
                break
        time.sleep(0.2)
    c.loop_stop()
    c.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
