// The client's API speaks the codec's and the sessions' types (packets, topics, QoS, reason
// codes): importing MQTT brings them too.
@_exported import MQTTCore
