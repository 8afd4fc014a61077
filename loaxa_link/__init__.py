"""Transport shared by HQ, edge and simulators: the only package that imports paho-mqtt.

``mqtt.MqttLink`` drives paho from an asyncio event loop (socket readers/writers, as aiomqtt does),
so thousands of simulated nodes can share one loop; ``mosquitto.Mosquitto`` runs a broker as a
child process on loopback for the one-machine default, the demo and the tests.
"""
