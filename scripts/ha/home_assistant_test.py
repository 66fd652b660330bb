"""gpiobridge against a real Home Assistant, on loopback.

Starts a stock Mosquitto and Home Assistant, creates Home Assistant's owner through the onboarding
API, adds the MQTT integration through the config-flow API, and drives everything through
Home Assistant's REST and WebSocket APIs:

- the agent (simulated chip and BME280) appears as one device whose switch, binary sensor and
  sensors have stable unique ids; switching from Home Assistant moves the line (`gpiobridge
  status`), a button press shows, stopping the agent makes its entities unavailable;
- the relay's declared Tasmota and ESPHome boards (played by emulators that speak as the
  firmware does) appear with their identity in the first config, switch the same way, and are
  known without a command; boards that announce themselves appear and go when they withdraw;
- after a restart of Home Assistant everything comes back under the same entity ids;
- Home Assistant's log has no warning or error from its MQTT integration.

Run by scripts/ha/test-home-assistant.sh with Home Assistant's own Python.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import aiohttp
import paho.mqtt.client as mqtt

TIMEOUT = 20.0


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Failure(Exception):
    pass


async def eventually(what, probe, timeout=TIMEOUT):
    """Calls `probe` until it returns something truthy; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = probe()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not within {timeout:.0f} s (last seen: {last!r})")
        await asyncio.sleep(0.2)


def check(condition, what):
    if not condition:
        raise Failure(what)
    print(f"  ok: {what}")


# MARK: Boards, as their firmware speaks


class Board:
    """One MQTT 3.1.1 client on the broker, as an ESP8266 is."""

    def __init__(self, port, client_id, will_topic, will_payload):
        self.client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311)
        self.client.will_set(will_topic, will_payload, qos=1, retain=True)
        self.client.on_connect = lambda *_: self.connected()
        self.client.on_message = lambda _c, _u, message: self.received(message.topic, message.payload.decode())
        self.commands = []
        self.port = port

    def start(self):
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        return self

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()

    def publish(self, topic, payload, retain=False):
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish()


class Tasmota(Board):
    """Tasmota 13: commands on cmnd/<topic>/<Command> in any case, answers on stat/<topic>/RESULT
    and stat/<topic>/POWERn, LWT Online and Offline (the will) retained, its announcement on
    tasmota/discovery/<MAC>/config and /sensors, retained. It reports nothing when it connects."""

    def __init__(self, port, topic, mac, relays=1):
        super().__init__(port, f"DVES_{mac[-6:]}", f"tele/{topic}/LWT", "Offline")
        self.topic, self.mac, self.power = topic, mac, [False] * relays

    def connected(self):
        self.client.subscribe(f"cmnd/{self.topic}/#", qos=0)
        self.client.publish(f"tele/{self.topic}/LWT", "Online", qos=1, retain=True)

    def key(self, index):
        return "POWER" if len(self.power) == 1 else f"POWER{index}"

    def received(self, topic, payload):
        command = topic.rsplit("/", 1)[-1].upper()
        self.commands.append(f"{command} {payload}")
        if command == "STATE":
            members = {self.key(i + 1): "ON" if on else "OFF" for i, on in enumerate(self.power)}
            self.client.publish(f"stat/{self.topic}/RESULT", json.dumps({"Time": "2026-11-29T10:00:00", **members}))
            return
        if not command.startswith("POWER"):
            return
        index = int(command[5:] or "1")
        if not 1 <= index <= len(self.power):
            return
        word = payload.upper()
        if word in ("ON", "1"):
            self.power[index - 1] = True
        elif word in ("OFF", "0"):
            self.power[index - 1] = False
        elif word in ("TOGGLE", "2"):
            self.power[index - 1] = not self.power[index - 1]
        state = "ON" if self.power[index - 1] else "OFF"
        self.client.publish(f"stat/{self.topic}/RESULT", json.dumps({self.key(index): state}))
        self.client.publish(f"stat/{self.topic}/{self.key(index)}", state)

    def announce(self):
        relays = [1] * len(self.power) + [0] * (8 - len(self.power))
        config = {
            "ip": "192.168.1.50", "dn": "Tasmota", "fn": ["Tasmota"] + [None] * 7, "hn": f"{self.topic}-1234",
            "mac": self.mac, "md": "Sonoff Basic", "ty": 0, "if": 0, "ofln": "Offline", "onln": "Online",
            "state": ["OFF", "ON", "TOGGLE", "HOLD"], "sw": "13.1.0", "t": self.topic, "ft": "%prefix%/%topic%/",
            "tp": ["cmnd", "stat", "tele"], "rl": relays, "swc": [-1] * 8, "swn": [None] * 8, "btn": [0] * 4,
            "so": {"4": 0, "11": 0, "13": 0, "17": 0, "20": 0, "30": 0, "68": 0, "73": 0, "82": 0, "114": 0, "117": 0},
            "lk": 0, "lt_st": 0, "bat": 0, "dslp": 0, "sho": [], "sht": [], "ver": 1,
        }
        self.publish(f"tasmota/discovery/{self.mac}/config", json.dumps(config), retain=True)
        sensors = {"sn": {"Time": "2026-11-29T10:00:00", "AM2301": {"Temperature": 21.5, "Humidity": 48.2}, "TempUnit": "C"}, "ver": 1}
        self.publish(f"tasmota/discovery/{self.mac}/sensors", json.dumps(sensors), retain=True)

    def withdraw(self):
        self.publish(f"tasmota/discovery/{self.mac}/config", "", retain=True)
        self.publish(f"tasmota/discovery/{self.mac}/sensors", "", retain=True)

    def telemetry(self, temperature, humidity):
        reading = {"Time": "2026-11-29T10:00:00", "AM2301": {"Temperature": temperature, "Humidity": humidity}, "TempUnit": "C"}
        self.publish(f"tele/{self.topic}/SENSOR", json.dumps(reading))


class ESPHome(Board):
    """An ESPHome node: `<node>/status` online (birth) and offline (will), retained; switches on
    `<node>/switch/<object id>/command`, states retained on `.../state`; its own Home Assistant
    discovery configs, with the object id taken from each entity's name."""

    def __init__(self, port, node, mac, switches, sensors):
        super().__init__(port, node, f"{node}/status", "offline")
        self.node, self.mac = node, mac
        self.switches = {self.object_id(name): False for name in switches}
        self.names = {self.object_id(name): name for name in switches + list(sensors)}
        self.sensors = {self.object_id(name): value for name, value in sensors.items()}

    @staticmethod
    def object_id(name):
        return re.sub(r"[^a-z0-9_]", "_", name.lower().replace(" ", "_"))

    def connected(self):
        self.client.subscribe(f"{self.node}/switch/+/command", qos=0)
        self.client.publish(f"{self.node}/status", "online", qos=1, retain=True)
        for object_id, on in self.switches.items():
            self.client.publish(f"{self.node}/switch/{object_id}/state", "ON" if on else "OFF", qos=0, retain=True)
        for object_id, value in self.sensors.items():
            self.client.publish(f"{self.node}/sensor/{object_id}/state", value, qos=0, retain=True)

    def received(self, topic, payload):
        object_id = topic.split("/")[2]
        self.commands.append(f"{object_id} {payload}")
        word = payload.upper()
        if object_id not in self.switches or word not in ("ON", "OFF", "TOGGLE"):
            return
        self.switches[object_id] = (not self.switches[object_id]) if word == "TOGGLE" else word == "ON"
        self.client.publish(f"{self.node}/switch/{object_id}/state", "ON" if self.switches[object_id] else "OFF", qos=0, retain=True)

    def device(self):
        return {"ids": self.mac.lower(), "name": self.node, "sw": "2026.10.0", "mdl": "nodemcuv2", "mf": "Espressif"}

    def announce(self):
        for object_id in self.switches:
            config = {"name": self.names[object_id], "stat_t": f"{self.node}/switch/{object_id}/state",
                      "cmd_t": f"{self.node}/switch/{object_id}/command", "avty_t": f"{self.node}/status",
                      "uniq_id": f"{self.mac.lower()}-switch-{object_id}", "dev": self.device(),
                      "o": {"name": "esphome", "sw": "2026.10.0"}}
            self.publish(f"homeassistant/switch/{self.node}/{object_id}/config", json.dumps(config), retain=True)
        for object_id in self.sensors:
            config = {"name": self.names[object_id], "stat_t": f"{self.node}/sensor/{object_id}/state",
                      "avty_t": f"{self.node}/status", "uniq_id": f"{self.mac.lower()}-sensor-{object_id}",
                      "dev_cla": "temperature", "unit_of_meas": "°C", "stat_cla": "measurement",
                      "dev": self.device(), "o": {"name": "esphome", "sw": "2026.10.0"}}
            self.publish(f"homeassistant/sensor/{self.node}/{object_id}/config", json.dumps(config), retain=True)

    def withdraw(self):
        for object_id in self.switches:
            self.publish(f"homeassistant/switch/{self.node}/{object_id}/config", "", retain=True)
        for object_id in self.sensors:
            self.publish(f"homeassistant/sensor/{self.node}/{object_id}/config", "", retain=True)


class Recorder:
    """Every message on some topics, in order, as a dashboard subscribing to them would see it."""

    def __init__(self, port, filters):
        self.messages = []
        self.client = mqtt.Client(client_id="recorder", protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda *_: [self.client.subscribe(f, qos=1) for f in filters]
        self.client.on_message = lambda _c, _u, message: self.messages.append((message.topic, message.payload.decode()))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def first(self, topic):
        return next((payload for t, payload in self.messages if t == topic), None)

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


# MARK: Home Assistant


class HomeAssistant:
    def __init__(self, venv_bin, directory, mqtt_port):
        self.hass = os.path.join(venv_bin, "hass")
        self.config = os.path.join(directory, "home-assistant")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mqtt_port = mqtt_port
        self.process = None
        self.token = None
        self.message_id = 0
        os.makedirs(self.config)
        with open(os.path.join(self.config, "configuration.yaml"), "w") as file:
            file.write(f"""homeassistant:
  name: gpiobridge test
  unit_system: metric
  time_zone: UTC
  latitude: 0
  longitude: 0
  elevation: 0
http:
  server_host: 127.0.0.1
  server_port: {self.port}
api:
config:
onboarding:
logger:
  default: warning
  logs:
    homeassistant.components.mqtt: info
""")

    async def start(self, session):
        self.log = open(os.path.join(self.config, "output.log"), "a")
        self.process = subprocess.Popen([self.hass, "-c", self.config, "--skip-pip"], stdout=self.log, stderr=subprocess.STDOUT)
        self.session = session

        async def answers():
            try:
                async with session.get(f"{self.url}/api/onboarding") as response:
                    return response.status == 200 or response.status == 401
            except aiohttp.ClientError:
                return False
        await eventually("Home Assistant answers", answers, timeout=120)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    async def onboard(self):
        client_id = f"{self.url}/"
        async with self.session.post(f"{self.url}/api/onboarding/users", json={
            "client_id": client_id, "name": "Owner", "username": "owner", "password": "gpiobridge-test", "language": "en",
        }) as response:
            check(response.status == 200, f"the owner is created through onboarding (HTTP {response.status})")
            code = (await response.json())["auth_code"]
        async with self.session.post(f"{self.url}/auth/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": client_id,
        }) as response:
            self.token = (await response.json())["access_token"]

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    async def add_mqtt(self):
        async with self.session.post(f"{self.url}/api/config/config_entries/flow", json={"handler": "mqtt"},
                                     headers=self.headers()) as response:
            flow = await response.json()
        check(flow.get("step_id") == "broker", f"the MQTT config flow asks for the broker ({flow.get('step_id')})")
        async with self.session.post(f"{self.url}/api/config/config_entries/flow/{flow['flow_id']}",
                                     json={"broker": "127.0.0.1", "port": self.mqtt_port}, headers=self.headers()) as response:
            result = await response.json()
        check(result.get("type") == "create_entry", f"the MQTT integration is added ({result.get('type')}, {result.get('errors')})")
        self.mqtt_entry = result["result"]["entry_id"]

    async def add_tasmota(self):
        """Home Assistant's own Tasmota integration, which reads the boards' announcements too."""
        async with self.session.post(f"{self.url}/api/config/config_entries/flow", json={"handler": "tasmota"},
                                     headers=self.headers()) as response:
            flow = await response.json()
        steps = 0
        while flow.get("type") == "form" and steps < 3:
            steps += 1
            async with self.session.post(f"{self.url}/api/config/config_entries/flow/{flow['flow_id']}",
                                         json={"discovery_prefix": "tasmota/discovery"} if flow.get("step_id") == "config" else {},
                                         headers=self.headers()) as response:
                flow = await response.json()
        check(flow.get("type") == "create_entry", f"the Tasmota integration is added ({flow.get('type')}, {flow.get('errors')})")
        self.tasmota_entry = flow["result"]["entry_id"]

    async def state(self, entity_id):
        async with self.session.get(f"{self.url}/api/states/{entity_id}", headers=self.headers()) as response:
            return await response.json() if response.status == 200 else None

    async def service(self, domain, service, entity_id):
        # The registry knows an entity before it has a state; a service call before then does nothing.
        async def known():
            state = await self.state(entity_id)
            return state and state["state"] not in ("unavailable", "unknown")
        await eventually(f"{entity_id} has a state", known)
        async with self.session.post(f"{self.url}/api/services/{domain}/{service}", json={"entity_id": entity_id},
                                     headers=self.headers()) as response:
            check(response.status == 200, f"{domain}.{service} {entity_id} is accepted (HTTP {response.status})")

    async def registry(self, kind):
        """The entity or device registry, through the WebSocket API."""
        async with self.session.ws_connect(f"{self.url}/api/websocket") as socket:
            await socket.receive_json()
            await socket.send_json({"type": "auth", "access_token": self.token})
            reply = await socket.receive_json()
            if reply.get("type") != "auth_ok":
                raise Failure(f"the WebSocket API refused the token: {reply}")
            await socket.send_json({"id": 1, "type": f"config/{kind}_registry/list"})
            while True:
                reply = await socket.receive_json()
                if reply.get("id") == 1:
                    return reply["result"]

    async def entities(self):
        """MQTT entities by unique id."""
        return {entry["unique_id"]: entry for entry in await self.registry("entity") if entry["platform"] == "mqtt"}

    async def entity(self, unique_id):
        return (await self.entities()).get(unique_id)

    def log_lines(self):
        """Every run's log: Home Assistant moves the last one to home-assistant.log.1 when it starts."""
        lines = []
        for name in ("home-assistant.log.1", "home-assistant.log"):
            path = os.path.join(self.config, name)
            if os.path.exists(path):
                with open(path, errors="replace") as file:
                    lines += file.read().splitlines()
        return lines


# MARK: The test


class Processes:
    def __init__(self):
        self.running = []

    def start(self, arguments, log, environment=None):
        process = subprocess.Popen(arguments, stdout=open(log, "a"), stderr=subprocess.STDOUT,
                                   env={**os.environ, **(environment or {})})
        self.running.append(process)
        return process

    @staticmethod
    def stop(process):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def stop_all(self):
        for process in reversed(self.running):
            self.stop(process)


def agent_profile(port):
    return f"""broker:
  host: 127.0.0.1
  port: {port}
device:
  id: hatest
  name: gpiobridge HA test
outputs:
  - name: led
    line: GPIO17
inputs:
  - name: button
    line: GPIO27
    bias: pull-up
    active_low: true
sensors:
  - name: climate
    model: bme280
    bus: 1
    address: 0x76
    interval: 2s
publishers:
  - name: uptime
    interval: 5s
    uptime: true
    announce: true
discovery: true
"""


def relay_profile(port):
    return f"""relay:
  id: ha-relay
fleet:
  host: 127.0.0.1
  port: {port}
boards:
  - name: kitchen
    tasmota:
      topic: tasmota_A1B2C3
      relays: {{light: 1}}
      sensors: {{temperature: AM2301.Temperature, humidity: AM2301.Humidity}}
  - name: porch
    esphome:
      node: porch
      switches: {{light: relay_1}}
      sensors: {{temperature: temperature}}
discover:
  tasmota: true
  esphome: true
discovery: true
"""


async def run(arguments, work):
    binary = os.path.abspath(arguments.gpiobridge)
    processes = Processes()
    boards = []
    home_assistant = None
    try:
        port = free_port()
        with open(os.path.join(work, "mosquitto.conf"), "w") as file:
            file.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        processes.start(["mosquitto", "-c", os.path.join(work, "mosquitto.conf")], os.path.join(work, "mosquitto.log"))
        wait_for_port(port)
        environment = {"GPIOBRIDGE_RUN_DIR": os.path.join(work, "run")}

        def gpiobridge(*command):
            return subprocess.run([binary, *command], capture_output=True, text=True, env={**os.environ, **environment}, timeout=30)

        async with aiohttp.ClientSession() as session:
            home_assistant = HomeAssistant(os.path.dirname(sys.executable), work, port)
            print("== Home Assistant 2025.1.4 on loopback: owner through onboarding, MQTT through its config flow")
            await home_assistant.start(session)
            await home_assistant.onboard()
            await home_assistant.add_mqtt()
            await home_assistant.add_tasmota()

            print("== the agent (simulated chip and BME280) as one Home Assistant device")
            with open(os.path.join(work, "agent.yml"), "w") as file:
                file.write(agent_profile(port))
            agent_arguments = [binary, "agent", "--profile", os.path.join(work, "agent.yml"), "--simulate"]
            agent = processes.start(agent_arguments, os.path.join(work, "agent.log"), environment)
            expected = ["gpiobridge_hatest_led", "gpiobridge_hatest_button", "gpiobridge_hatest_uptime",
                        "gpiobridge_hatest_climate_temperature", "gpiobridge_hatest_climate_humidity",
                        "gpiobridge_hatest_climate_pressure"]

            async def all_entities():
                entities = await home_assistant.entities()
                return entities if all(unique_id in entities for unique_id in expected) else None
            entities = await eventually(f"Home Assistant has the entities {expected}", all_entities)
            devices = {entities[unique_id]["device_id"] for unique_id in expected}
            check(len(devices) == 1, f"the agent's {len(expected)} entities are on one device")
            agent_ids = {unique_id: entities[unique_id]["entity_id"] for unique_id in expected}
            led, button = agent_ids["gpiobridge_hatest_led"], agent_ids["gpiobridge_hatest_button"]

            def line_on(name):
                status = json.loads(gpiobridge("status", "--json").stdout)
                return next((output for output in status["outputs"] if output["name"] == name), {}).get("state") == "ON"

            async def ha_state(entity_id, wanted):
                state = await home_assistant.state(entity_id)
                return state if state and state["state"] == wanted else None

            await eventually(f"{led} shows the agent's off", lambda: ha_state(led, "off"))
            await eventually(f"{button} shows the released button", lambda: ha_state(button, "off"))
            for service, wanted in (("turn_on", "on"), ("turn_off", "off"), ("turn_on", "on")):
                await home_assistant.service("switch", service, led)
                await eventually(f"GPIO17 is {wanted} after switch.{service}", lambda: line_on("led") == (wanted == "on"))
                await eventually(f"{led} shows {wanted}", lambda: ha_state(led, wanted))
                print(f"  ok: switch.{service} moved GPIO17 and {led} shows {wanted}")
            gpiobridge("simulate", "GPIO27=0")
            await eventually(f"{button} is on while the button is pressed", lambda: ha_state(button, "on"))
            gpiobridge("simulate", "GPIO27=pull")
            await eventually(f"{button} is off once released", lambda: ha_state(button, "off"))
            print(f"  ok: a press on GPIO27 showed in {button}")
            temperature = agent_ids["gpiobridge_hatest_climate_temperature"]
            state = await eventually(f"{temperature} has a reading", lambda: ha_state_number(home_assistant, temperature))
            check(state["attributes"].get("unit_of_measurement") == "°C" and state["attributes"].get("device_class") == "temperature",
                  f"{temperature} reads {state['state']} °C as a temperature")
            pressure = await eventually("the pressure has a reading", lambda: ha_state_number(home_assistant, agent_ids["gpiobridge_hatest_climate_pressure"]))
            check(pressure["attributes"].get("unit_of_measurement") == "hPa", f"the pressure reads {pressure['state']} hPa")
            uptime = await eventually("the uptime publisher is a sensor", lambda: ha_state_number(home_assistant, agent_ids["gpiobridge_hatest_uptime"]))
            check(uptime["attributes"].get("unit_of_measurement") == "s", f"the uptime reads {uptime['state']} s")

            print("== the relay: declared Tasmota and ESPHome boards, and boards that announce themselves")
            recorder = Recorder(port, ["homeassistant/device/+/config", "gpiobridge/kitchen/#"])
            kitchen = Tasmota(port, "tasmota_A1B2C3", "A4CF12A1B2C3").start()
            boards.append(kitchen)
            kitchen.announce()
            porch = ESPHome(port, "porch", "A4CF12D4E5F6", ["Relay 1"], {"Temperature": "21.0"}).start()
            boards.append(porch)
            porch.announce()
            with open(os.path.join(work, "relay.yml"), "w") as file:
                file.write(relay_profile(port))
            relay = processes.start([binary, "relay", "--profile", os.path.join(work, "relay.yml")], os.path.join(work, "relay.log"), environment)
            mirrored = ["gpiobridge_kitchen_light", "gpiobridge_kitchen_temperature", "gpiobridge_kitchen_humidity",
                        "gpiobridge_porch_light", "gpiobridge_porch_temperature", "gpiobridge_ha-relay_connectivity"]

            async def relay_entities():
                entities = await home_assistant.entities()
                return entities if all(unique_id in entities for unique_id in mirrored) else None
            entities = await eventually(f"Home Assistant has the entities {mirrored}", relay_entities)
            first = json.loads(recorder.first("homeassistant/device/gpiobridge_kitchen/config") or "{}")
            check(["mac", "a4cf12a1b2c3"] in first.get("dev", {}).get("cns", []),
                  "the first config of the declared Tasmota board carries its MAC")
            first = json.loads(recorder.first("homeassistant/device/gpiobridge_porch/config") or "{}")
            check("a4cf12d4e5f6" in first.get("dev", {}).get("ids", []),
                  "the first config of the declared ESPHome board carries its identifiers")
            # Home Assistant's Tasmota integration files the board under its MAC; our config must land on that device.
            async def kitchen_devices():
                devices = [device for device in await home_assistant.registry("device")
                           if ["mac", "a4:cf:12:a1:b2:c3"] in device["connections"]]
                return devices if any(home_assistant.tasmota_entry in device["config_entries"] for device in devices) else None
            same_mac = await eventually("Home Assistant's Tasmota integration knows the kitchen board", kitchen_devices)
            check(len(same_mac) == 1 and set(same_mac[0]["config_entries"]) == {home_assistant.mqtt_entry, home_assistant.tasmota_entry},
                  f"the kitchen board is one device, of the Tasmota and the MQTT integrations ({len(same_mac)} with its MAC)")
            kitchen_light = entities["gpiobridge_kitchen_light"]["entity_id"]
            await eventually(f"{kitchen_light} is known without a command (the relay asked the board)", lambda: ha_state(kitchen_light, "off"))
            print(f"  ok: {kitchen_light} shows off before any command")
            for service, wanted in (("turn_on", "on"), ("turn_off", "off")):
                await home_assistant.service("switch", service, kitchen_light)
                await eventually(f"the Tasmota board's relay is {wanted}", lambda: kitchen.power[0] == (wanted == "on"))
                await eventually(f"{kitchen_light} shows {wanted}", lambda: ha_state(kitchen_light, wanted))
            porch_light = entities["gpiobridge_porch_light"]["entity_id"]
            await home_assistant.service("switch", "turn_on", porch_light)
            await eventually("the ESPHome node's relay is on", lambda: porch.switches["relay_1"])
            await eventually(f"{porch_light} shows on", lambda: ha_state(porch_light, "on"))
            print(f"  ok: {kitchen_light} and {porch_light} switch their boards from Home Assistant")
            changes = [payload for topic, payload in recorder.messages if topic == "gpiobridge/kitchen/light"]
            check(changes == ["OFF", "ON", "OFF"], f"the relay published each state of the kitchen light once ({changes})")

            kitchen.telemetry(22.5, 51.0)
            kitchen_temperature = entities["gpiobridge_kitchen_temperature"]["entity_id"]

            async def telemetry_shown():
                state = await home_assistant.state(kitchen_temperature)
                return state if state and state["state"] == "22.5" else None
            state = await eventually(f"{kitchen_temperature} shows the board's 22.5", telemetry_shown)
            check(state["attributes"].get("unit_of_measurement") == "°C" and state["attributes"].get("device_class") == "temperature",
                  f"{kitchen_temperature} has the board's unit (°C) and is a temperature")
            porch_temperature = entities["gpiobridge_porch_temperature"]["entity_id"]
            state = await eventually(f"{porch_temperature} shows the node's 21.0", lambda: ha_state(porch_temperature, "21.0"))
            check(state["attributes"].get("unit_of_measurement") == "°C", f"{porch_temperature} has the node's unit (°C)")
            porch.publish("porch/sensor/temperature/state", "nan", retain=True)
            await eventually(f"{porch_temperature} is unknown after the node's nan", lambda: ha_state(porch_temperature, "unknown"))
            print(f"  ok: the node's nan (no reading) shows as unknown in {porch_temperature}")
            porch.publish("porch/sensor/temperature/state", "21.5", retain=True)
            await eventually(f"{porch_temperature} reads again", lambda: ha_state(porch_temperature, "21.5"))

            print("== boards that announce themselves come and go")
            garage = Tasmota(port, "tasmota_D4E5F6", "A4CF12D4E5F7").start()
            boards.append(garage)
            garage.announce()
            shed = ESPHome(port, "shed", "A4CF12000001", ["Pump"], {}).start()
            boards.append(shed)
            shed.announce()
            announced = ["gpiobridge_tasmota_D4E5F6_relay1", "gpiobridge_shed_pump"]

            async def announced_entities():
                entities = await home_assistant.entities()
                return entities if all(unique_id in entities for unique_id in announced) else None
            entities = await eventually(f"Home Assistant has {announced}", announced_entities)
            garage_relay = entities["gpiobridge_tasmota_D4E5F6_relay1"]["entity_id"]
            await home_assistant.service("switch", "turn_on", garage_relay)
            await eventually("the announced Tasmota board's relay is on", lambda: garage.power[0])
            shed_pump = entities["gpiobridge_shed_pump"]["entity_id"]
            await home_assistant.service("switch", "turn_on", shed_pump)
            await eventually("the announced ESPHome node's pump is on", lambda: shed.switches["pump"])
            print(f"  ok: {garage_relay} and {shed_pump} appeared and switch their boards")
            garage.withdraw()
            shed.withdraw()

            async def withdrawn():
                entities = await home_assistant.entities()
                return not any(unique_id in entities for unique_id in announced)
            await eventually(f"{announced} leave Home Assistant once their boards withdraw", withdrawn)
            print("  ok: the withdrawn boards left Home Assistant")

            print("== stopping the agent makes its entities unavailable; restarting Home Assistant brings all back")
            check(Processes.stop(agent) == 0, "the agent stops with status 0")
            await eventually(f"{led} is unavailable", lambda: ha_state(led, "unavailable"))
            await eventually(f"{button} is unavailable", lambda: ha_state(button, "unavailable"))
            print(f"  ok: {led} and {button} are unavailable once the agent stopped")
            agent = processes.start(agent_arguments, os.path.join(work, "agent.log"), environment)
            await eventually(f"{led} is back", lambda: ha_state(led, "off"))
            before = {unique_id: entry["entity_id"] for unique_id, entry in (await home_assistant.entities()).items()}
            home_assistant.stop()
            await home_assistant.start(session)

            async def back():
                entities = await home_assistant.entities()
                states = [await home_assistant.state(entities[u]["entity_id"]) if u in entities else None for u in expected + mirrored]
                return all(state and state["state"] not in ("unavailable", "unknown") for state in states)
            await eventually("every entity is back and known after Home Assistant restarted", back, timeout=60)
            after = {unique_id: entry["entity_id"] for unique_id, entry in (await home_assistant.entities()).items()}
            check(all(after.get(unique_id) == before[unique_id] for unique_id in expected + mirrored),
                  "the entity ids are the same after the restart")
            await home_assistant.service("switch", "turn_on", led)
            await eventually("GPIO17 is on after the restart", lambda: line_on("led"))
            print("  ok: the agent is switched from the restarted Home Assistant")

            recorder.stop()
            check(Processes.stop(relay) == 0, "the relay stops with status 0")

        # Warnings about this test's setup, not about anything gpiobridge sent.
        setup = ("Skipping pip installation", "zlib_ng and isal are not available", "Support for the running Python version")
        # Home Assistant also reads the ESPHome node's own configs: its own entity complains about the
        # node's nan on the node's topic. That is between the node and Home Assistant, not ours.
        def about_a_board(line):
            topic = re.search(r"topic: '([^']+)'", line)
            return topic is not None and not topic.group(1).startswith("gpiobridge/")
        complaints = [line for line in home_assistant.log_lines()
                      if re.search(r" (WARNING|ERROR|CRITICAL) ", line) and not any(text in line for text in setup) and not about_a_board(line)]
        check(not complaints, "Home Assistant logged no warning or error (its MQTT integration, sensors, entities)"
              + "".join(f"\n    {line}" for line in complaints))
    finally:
        for board in boards:
            board.stop()
        if home_assistant:
            home_assistant.stop()
        processes.stop_all()


async def ha_state_number(home_assistant, entity_id):
    state = await home_assistant.state(entity_id)
    try:
        float(state["state"])
        return state
    except (TypeError, ValueError, KeyError):
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpiobridge", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs of every process)")
    arguments = parser.parse_args()
    work = tempfile.mkdtemp(prefix="gpiobridge-ha-")
    started = time.monotonic()
    try:
        asyncio.run(run(arguments, work))
        print(f"== Home Assistant test passed in {time.monotonic() - started:.0f} s")
    except Failure as failure:
        print(f"FAILED: {failure}\n(logs in {work})", file=sys.stderr)
        sys.exit(1)
    finally:
        if not arguments.keep and sys.exc_info()[0] is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
