// Command probe is the test container of the docker actions' integration
// tests: a static program that runs in an image FROM scratch. As the
// container's main process it serves HTTP; run by exec (or as the image's
// HEALTHCHECK) it checks that server, prints, exits with a chosen code.
//
//	probe serve            serve :8000 (PROBE_ADDR); /health is 503 when PROBE_UNHEALTHY is set,
//	                       and for the first PROBE_HEALTHY_AFTER (a duration) after start
//	probe health           GET /health; exit 0 on 200, else 1
//	probe log LINE         ask the server to print LINE to the container's log
//	probe echo ARGS...     print each argument on a line
//	probe stderr MSG       print MSG on stderr
//	probe exit CODE [MSG]  print MSG, exit with CODE
//	probe env              print the names (never the values) of the environment
//	probe printenv NAME    print one variable's value
//	probe sleep DURATION   sleep
package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe serve|health|log|echo|stderr|exit|env|printenv|sleep")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		serve()
	case "health":
		resp, err := http.Get("http://" + local() + "/health")
		if err != nil {
			fmt.Println("health:", err)
			os.Exit(1)
		}
		resp.Body.Close()
		fmt.Println("health:", resp.Status)
		if resp.StatusCode != http.StatusOK {
			os.Exit(1)
		}
	case "log":
		resp, err := http.Get("http://" + local() + "/log?line=" + url.QueryEscape(strings.Join(args, " ")))
		if err != nil {
			fmt.Fprintln(os.Stderr, "log:", err)
			os.Exit(1)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	case "echo":
		for _, a := range args {
			fmt.Println(a)
		}
	case "stderr":
		fmt.Fprintln(os.Stderr, strings.Join(args, " "))
	case "exit":
		code := 0
		if len(args) > 0 {
			code, _ = strconv.Atoi(args[0])
			if len(args) > 1 {
				fmt.Println(strings.Join(args[1:], " "))
			}
		}
		os.Exit(code)
	case "env":
		for _, k := range envKeys() {
			fmt.Println(k)
		}
	case "printenv":
		if len(args) > 0 {
			fmt.Println(os.Getenv(args[0]))
		}
	case "sleep":
		d, _ := time.ParseDuration(strings.Join(args, ""))
		time.Sleep(d)
	default:
		fmt.Fprintln(os.Stderr, "probe: unknown command", os.Args[1])
		os.Exit(2)
	}
}

func addr() string {
	if a := os.Getenv("PROBE_ADDR"); a != "" {
		return a
	}
	return ":8000"
}

func local() string {
	a := addr()
	if strings.HasPrefix(a, ":") {
		return "127.0.0.1" + a
	}
	return a
}

func envKeys() []string {
	var keys []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func serve() {
	// As PID 1 the process gets no default signal handling: stop on TERM.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		fmt.Println("probe: stopping")
		os.Exit(0)
	}()
	started := time.Now()
	after, _ := time.ParseDuration(os.Getenv("PROBE_HEALTHY_AFTER"))
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("PROBE_UNHEALTHY") != "" {
			http.Error(w, "unhealthy on purpose", http.StatusServiceUnavailable)
			return
		}
		if time.Since(started) < after {
			http.Error(w, "still starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Query().Get("line"))
		fmt.Fprintln(w, "logged")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.URL.Path)
		fmt.Fprintln(w, "probe")
	})
	fmt.Printf("probe: serving on %s; env keys: %s\n", addr(), strings.Join(envKeys(), ","))
	if err := http.ListenAndServe(addr(), nil); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}
