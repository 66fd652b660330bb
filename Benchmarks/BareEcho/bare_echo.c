/*
 * The bare references: a minimal libmosquitto client that republishes each message it gets on one
 * topic to another, with no work between: at QoS 0, or with BARE_QOS=1 subscribing with QoS 1 and
 * passing each message on with the QoS it came with, as the relay does. Then it also acknowledges
 * each read at once (TCP_QUICKACK), as the relay does: otherwise a stock Mosquitto (Nagle on)
 * holds each message 40 ms behind the ACK of the PUBACK before it.
 *
 *   bare-echo PORT PREFIX              PREFIX/set -> PREFIX/state: the same two hops as the
 *                                      agent's command -> state path
 *   bare-echo PORT IN OUT [IN OUT...]  each IN -> its OUT: with a board's command and state
 *                                      topics, a relay that does no work (four hops, like the
 *                                      relay's translated command)
 */
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MAPS 8

static const char *inputs[MAX_MAPS];
static const char *outputs[MAX_MAPS];
static int map_count;
static int qos;

static void acknowledge_now(struct mosquitto *mosq) {
    int on = 1;
    if (qos) setsockopt(mosquitto_socket(mosq), IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
}

/* A PUBACK read. */
static void on_publish(struct mosquitto *mosq, void *data, int mid) {
    (void)data;
    (void)mid;
    acknowledge_now(mosq);
}

static void on_message(struct mosquitto *mosq, void *data, const struct mosquitto_message *message) {
    (void)data;
    acknowledge_now(mosq);
    for (int i = 0; i < map_count; i++) {
        if (strcmp(message->topic, inputs[i]) == 0) {
            mosquitto_publish(mosq, NULL, outputs[i], message->payloadlen, message->payload, message->qos, false);
            return;
        }
    }
}

int main(int argc, char **argv) {
    static char set_topic[256], state_topic[256];
    if (argc == 3) {
        snprintf(set_topic, sizeof set_topic, "%s/set", argv[2]);
        snprintf(state_topic, sizeof state_topic, "%s/state", argv[2]);
        inputs[0] = set_topic;
        outputs[0] = state_topic;
        map_count = 1;
    } else if (argc >= 4 && argc % 2 == 0 && (argc - 2) / 2 <= MAX_MAPS) {
        for (int i = 2; i < argc; i += 2) {
            inputs[map_count] = argv[i];
            outputs[map_count] = argv[i + 1];
            map_count++;
        }
    } else {
        fprintf(stderr, "usage: bare-echo PORT PREFIX | bare-echo PORT IN OUT [IN OUT...]\n");
        return 2;
    }
    const char *qos_setting = getenv("BARE_QOS");
    qos = qos_setting && strcmp(qos_setting, "1") == 0 ? 1 : 0;
    mosquitto_lib_init();
    struct mosquitto *mosq = mosquitto_new(NULL, true, NULL);
    if (!mosq) return 1;
    /* As every latency-minded client does (the agent too). */
    mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_message_callback_set(mosq, on_message);
    mosquitto_publish_callback_set(mosq, on_publish);
    if (mosquitto_connect(mosq, "127.0.0.1", atoi(argv[1]), 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bare-echo: cannot connect to 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    for (int i = 0; i < map_count; i++) mosquitto_subscribe(mosq, NULL, inputs[i], qos);
    int rc = mosquitto_loop_forever(mosq, -1, 1);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    return rc == MOSQ_ERR_SUCCESS ? 0 : 1;
}
