/*
 * The bare reference for the command round trip: a minimal libmosquitto client that republishes
 * every message on PREFIX/set to PREFIX/state (QoS 0), the same two hops as the agent's
 * command -> state path, with no work between them.
 *
 * usage: bare-echo PORT PREFIX
 */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char state_topic[256];

static void on_message(struct mosquitto *mosq, void *data, const struct mosquitto_message *message) {
    (void)data;
    mosquitto_publish(mosq, NULL, state_topic, message->payloadlen, message->payload, 0, false);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bare-echo PORT PREFIX\n");
        return 2;
    }
    char set_topic[256];
    snprintf(set_topic, sizeof set_topic, "%s/set", argv[2]);
    snprintf(state_topic, sizeof state_topic, "%s/state", argv[2]);
    mosquitto_lib_init();
    struct mosquitto *mosq = mosquitto_new(NULL, true, NULL);
    if (!mosq) return 1;
    /* As every latency-minded client does (the agent too). */
    mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_message_callback_set(mosq, on_message);
    if (mosquitto_connect(mosq, "127.0.0.1", atoi(argv[1]), 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bare-echo: cannot connect to 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    mosquitto_subscribe(mosq, NULL, set_topic, 0);
    int rc = mosquitto_loop_forever(mosq, -1, 1);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    return rc == MOSQ_ERR_SUCCESS ? 0 : 1;
}
