/* The subcommand table and `mqgate help`. Adding a subcommand is one row here
 * and one cmd_*.c file. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/doc.h"
#include "gateway/commands.h"

/* The connection options mqgate pub and mqgate sub share (gateway/cli/options.c). */
#define CLIENT_OPTIONS_HELP \
"  -u USER, -P PASS   user name and password\n" \
"  -V 311|5           MQTT version, also mqttv311/mqttv5 (default 311)\n" \
"  -k SECONDS         keep alive (default 60, 0 for none)\n" \
"  -c                 persistent session: clean session / clean start off\n" \
"  -x SECONDS         MQTT 5 session expiry interval (-1: never; -c alone: never)\n" \
"  -D CMD PROP VALUE  MQTT 5 property; CMD is connect, publish, subscribe,\n" \
"                     unsubscribe, disconnect or will; PROP as in the\n" \
"                     specification, dashed (content-type, user-property NAME VALUE...)\n" \
"  --will-topic T, --will-payload P, --will-qos Q, --will-retain\n" \
"                     last will, published by the broker if the connection drops\n" \
"  -d                 debug: trace every packet on stderr\n" \
"  --help             this help\n"

const struct command commands[] = {
    { "run", "run the gateway",
      "usage: mqgate run [-c FILE]\n"
      "\n"
      "Run the gateway: poll the devices, publish their readings to the embedded\n"
      "broker and the bridge. Stops cleanly on SIGINT/SIGTERM; SIGHUP reloads FILE.\n"
      "\n"
      "  -c, --config FILE   configuration (default " MQGATE_DEFAULT_CONFIG ")\n"
      "  -h, --help          this help\n",
      cmd_run },
    { "check", "validate a configuration and show what it would do",
      "usage: mqgate check [-c FILE] [-q] [-n]\n"
      "\n"
      "Check FILE and print every problem as FILE:LINE:COL: error: MESSAGE. When it\n"
      "is valid, print a summary: buses, devices, points, the topics it publishes\n"
      "and the bridge target. Exit status: 0 valid, 2 invalid.\n"
      "\n"
      "  -c, --config FILE   configuration (default " MQGATE_DEFAULT_CONFIG ")\n"
      "  -q, --quiet         print only problems\n"
      "  -n, --dry-run       also print the exact messages (topic and payload) it\n"
      "                      would publish, from sample readings and a failed read\n"
      "  -h, --help          this help\n",
      cmd_check },
    { "probe", "read the devices and print what they answer, or list serial ports",
      "usage: mqgate probe [-c FILE] [-d DEVICE]... [-n CYCLES] [-t DURATION] [-s] [-q]\n"
      "       mqgate probe --list-ports\n"
      "\n"
      "Poll the devices of FILE exactly as `mqgate run` would, without the broker,\n"
      "and print every reading (raw, before scaling) as DEVICE/POINT VALUE, every\n"
      "failure with its reason, and devices going online or offline. The way to\n"
      "try a new device or a new register map.\n"
      "\n"
      "  -c, --config FILE    configuration (default " MQGATE_DEFAULT_CONFIG ")\n"
      "  -d, --device NAME    only this device (repeat for more)\n"
      "  -n, --cycles N       stop after N poll cycles of every device\n"
      "  -t, --timeout DUR    stop after DUR (e.g. 10s; default: until SIGINT)\n"
      "  -T, --timestamps     start each line with the time it was read (UTC)\n"
      "  -s, --stats          print each device's counters at the end\n"
      "  -q, --quiet          no reading lines (with -s: counters only)\n"
      "  -l, --list-ports     list the serial ports found, with USB details and\n"
      "                       their /dev/serial/by-id names, and exit\n"
      "  -h, --help           this help\n"
      "\n"
      "Exit status: 0; 1 when a device never answered; 2 on a bad FILE.\n",
      cmd_probe },
    { "broker", "run the MQTT broker on its own",
      "usage: mqgate broker [-p PORT] [-c FILE] [-v]\n"
      "\n"
      "Run the embedded MQTT 3.1.1/5.0 broker alone. Without -c it listens on\n"
      "127.0.0.1:1883 only (this machine), like Mosquitto 2; with -c it takes the\n"
      "'broker' section of FILE. Try it in two terminals:\n"
      "  mqgate sub -t 'demo/#' -v\n"
      "  mqgate pub -t demo/hi -m hello\n"
      "\n"
      "  -p, --port PORT     port of the first listener (0: any free port, logged)\n"
      "  -c, --config FILE   configuration file\n"
      "  -v, --verbose       debug logging\n"
      "  -h, --help          this help\n",
      cmd_broker },
    { "pub", "publish an MQTT message to a broker",
      "usage: mqgate pub -t TOPIC (-m MSG | -f FILE | -l | -n | -s) [OPTIONS]\n"
      "\n"
      "Connect to an MQTT 3.1.1 or 5.0 broker (the embedded one or any other),\n"
      "publish, and disconnect once QoS 1/2 deliveries are acknowledged. Options are\n"
      "those of mosquitto_pub. Exit status: 0 sent, 1 connection or protocol\n"
      "failure, 2 usage error.\n"
      "\n"
      "  -t TOPIC           topic to publish on\n"
      "  -m MSG             the message\n"
      "  -f FILE            the contents of FILE as the message\n"
      "  -l                 each line of stdin as a message (connection kept open)\n"
      "  -n                 an empty (null) message\n"
      "  -s                 all of stdin as one message\n"
      "  -r                 retain: the broker keeps it for new subscribers\n"
      "                     (-n -r clears the retained message)\n"
      "  --repeat N         publish the message N times\n"
      "  --repeat-delay S   seconds between repeats (may be fractional)\n"
      "  -h HOST            broker host (default localhost)\n"
      "  -p PORT            broker port (default 1883)\n"
      "  -q QOS             quality of service 0, 1 or 2 (default 0)\n"
      "  -i ID              client identifier (default mqgate-pub-PID)\n"
      CLIENT_OPTIONS_HELP
      "\n"
      "example: mqgate pub -t home/lamp -m on -q 1 -r\n",
      cmd_pub },
    { "sub", "subscribe to MQTT topics and print the messages",
      "usage: mqgate sub -t FILTER [-t FILTER...] [OPTIONS]\n"
      "\n"
      "Connect to an MQTT 3.1.1 or 5.0 broker, subscribe to each FILTER and print\n"
      "every message received, one per line. Options are those of mosquitto_sub.\n"
      "Exit status: 0 done, 1 connection or protocol failure (or every\n"
      "subscription refused), 2 usage error, 27 the -W timeout passed.\n"
      "\n"
      "  -t FILTER          topic filter to subscribe to (repeatable; + and # wildcards)\n"
      "  -v                 print \"topic payload\"\n"
      "  -F FORMAT          print with FORMAT: %t topic, %p payload, %q QoS, %r retain,\n"
      "                     %m message id, %l length, %x/%X hex payload, %I ISO-8601\n"
      "                     time, %U unix time, v5 properties %P (user, name:value)\n"
      "                     %R (response topic) %D (correlation data) %C (content\n"
      "                     type) %E (expiry) %F (payload format) %S (subscription\n"
      "                     id) %A (topic alias), %%; @X for strftime's %X; \\n \\t\n"
      "                     escapes; flags, width and precision as %-10.5t\n"
      "  -N                 no newline after each message\n"
      "  -C N               exit after N messages\n"
      "  -W SECONDS         exit after SECONDS (status 27, like mosquitto_sub)\n"
      "  -R                 do not print retained (stale) messages\n"
      "  --retained-only    print only retained messages; exit at the first fresh one\n"
      "  -E                 exit once the subscriptions are acknowledged\n"
      "  -U FILTER          unsubscribe from FILTER (after subscribing to the -t ones)\n"
      "  --no-local, --nl   v5: not the messages this client id publishes\n"
      "  --retain-as-published, --rap\n"
      "                     v5: keep the retain flag as the publisher set it\n"
      "  --retain-handling N  v5: 0 send retained messages on subscribe, 1 only for\n"
      "                     a new subscription, 2 never\n"
      "  -h HOST            broker host (default localhost)\n"
      "  -p PORT            broker port (default 1883)\n"
      "  -q QOS             quality of service 0, 1 or 2 (default 0)\n"
      "  -i ID              client identifier (default mqgate-sub-PID)\n"
      CLIENT_OPTIONS_HELP
      "\n"
      "example: mqgate sub -t 'home/#' -v\n",
      cmd_sub },
    { "passwd", "add, change or delete a user in the broker's password file",
      "usage: mqgate passwd [-c] [-I ITERATIONS] FILE USER\n"
      "       mqgate passwd [-c] [-I ITERATIONS] -b FILE USER PASSWORD\n"
      "       mqgate passwd -D FILE USER\n"
      "\n"
      "Set USER's password in FILE, the broker's auth.password_file, asking for it\n"
      "twice on the terminal; or delete USER. FILE has Mosquitto's format: files of\n"
      "mosquitto_passwd work here and ours in Mosquitto 2. Passwords are hashed with\n"
      "PBKDF2-SHA512 and a random salt. FILE is replaced atomically and keeps its\n"
      "owner and mode (0600 when new); its other lines are kept as they are.\n"
      "\n"
      "  -c                 create FILE with USER only (replacing FILE if it exists)\n"
      "  -b                 batch: PASSWORD from the command line (other users may\n"
      "                     see it in ps; your shell may keep it in its history)\n"
      "  -D                 delete USER\n"
      "  -I ITERATIONS      PBKDF2 iterations (default 15000). The broker pays them\n"
      "                     at each CONNECT: ~3 us each on a Raspberry Pi 4\n"
      "  -h, --help         this help\n"
      "\n"
      "Exit status: 0 done; 1 FILE cannot be read or written, is malformed, has no\n"
      "such USER (-D), or the passwords typed differ; 2 usage error.\n",
      cmd_passwd },
    { "help", "show help for a command, or the configuration reference",
      "usage: mqgate help [COMMAND | config]\n"
      "\n"
      "Without arguments, list the commands. With a command, show its help.\n"
      "'mqgate help config' prints the reference of every configuration key.\n",
      cmd_help },
    { NULL, NULL, NULL, NULL },
};

const struct command *command_find(const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void command_print_usage(const struct command *cmd, FILE *out)
{
    fputs(cmd->usage, out);
}

int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: mqgate <command> [<args>]\n\ncommands:\n");
        for (const struct command *c = commands; c->name; c++)
            printf("  %-8s %s\n", c->name, c->summary);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        command_print_usage(command_find("help"), stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "config") == 0) {
        config_doc_write(stdout);
        return EXIT_OK;
    }
    const struct command *cmd = command_find(argv[1]);
    if (!cmd) {
        fprintf(stderr, "mqgate help: no command '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    command_print_usage(cmd, stdout);
    return EXIT_OK;
}

enum log_level command_log_level(const struct config *cfg)
{
    static const enum log_level map[] = {
        [CFG_LOG_ERROR] = LOG_LEVEL_ERROR, [CFG_LOG_WARN] = LOG_LEVEL_WARN,
        [CFG_LOG_INFO] = LOG_LEVEL_INFO, [CFG_LOG_DEBUG] = LOG_LEVEL_DEBUG,
        [CFG_LOG_TRACE] = LOG_LEVEL_TRACE,
    };
    return map[cfg->gateway.log_level];
}
