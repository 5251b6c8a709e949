/* Fuzz target: the configuration loader (config/): config_load_string over
 * YAML text, whole. A config that loads is then used as `mqgate check`
 * would: its summary is written and a framer is built for every UART
 * device (framer_new compiles regexes and checks what validation cannot).
 * A config that fails must say why (at least one error) and its
 * diagnostics are printed; both go to /dev/null. */
#include <stdlib.h>

#include "config/config.h"
#include "config/summary.h"
#include "drivers/uart/framer.h"
#include "tests/fuzz/fuzz.h"

static void use_config(const struct config *cfg)
{
    config_summary_write(cfg, fuzz_devnull());
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct cfg_device *dev = &cfg->devices[i];
        if (dev->framing == CFG_FRAMING_NONE)
            continue;
        struct framer *f = NULL;
        char err[256] = "";
        if (framer_new(dev, &f, err, sizeof(err)) == 0)
            framer_free(f);
        else
            FUZZ_CHECK(err[0] != '\0' && f == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fuzz_quiet_log();
        /* ${FUZZ_HOME} and ${FUZZ_EMPTY} are set, others are not. */
        setenv("FUZZ_HOME", "/var/lib/mqgate", 1);
        setenv("FUZZ_EMPTY", "", 1);
        ready = true;
    }
    struct config *cfg = NULL;
    struct diag d;
    diag_init(&d);
    int rc = config_load_string("fuzz.yaml", (const char *)data, size, &cfg, &d);
    if (rc == 0) {
        FUZZ_CHECK(cfg != NULL && d.errors == 0);
        use_config(cfg);
        config_free(cfg);
    } else {
        FUZZ_CHECK(rc == -1 && cfg == NULL && (d.errors > 0 || d.oom));
    }
    diag_print(&d, fuzz_devnull());
    diag_free(&d);
    return 0;
}
