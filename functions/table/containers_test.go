package table

// The container files (infra/docker, infra/compose, infra/k8s) are checked
// here because this is the one package that sees the table function's
// Config (a main package cannot be imported); the bridge's and the tool's
// are imported. No container engine runs on the development machines, so
// the files are parsed and validated, and the compose services are run as
// plain processes with their exact commands and environment.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.yaml.in/yaml/v3"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/infra/cli"
	"github.com/jetsync/jetsync/infra/testenv"
)

const (
	dockerfilePath = "../../infra/docker/Dockerfile"
	composeDir     = "../../infra/compose"
	k8sDir         = "../../infra/k8s"
	repoRoot       = "../.."
)

// variables lists the JETSYNC_* variables that spec's envconfig reads.
func variables(t *testing.T, spec any) map[string]bool {
	t.Helper()
	var b bytes.Buffer
	if err := envconfig.Usagef("jetsync", spec, &b, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, v := range strings.Fields(b.String()) {
		vars[v] = true
	}
	return vars
}

// binaries maps each image entrypoint to the variables its binary reads.
func binaries(t *testing.T) map[string]map[string]bool {
	return map[string]map[string]bool{
		"/jetsync-bridge": variables(t, &bridge.Config{}),
		"/jetsync-table":  variables(t, &Config{}),
		"/jetsync":        variables(t, &cli.Config{}),
	}
}

// stage is one stage of the Dockerfile.
type stage struct {
	name, from string
	env        map[string]string
	entrypoint []string
	copied     []string // paths COPY --from puts in the image
	run        []string
}

// dockerfile parses the few instructions the Dockerfile uses.
func dockerfile(t *testing.T) map[string]*stage {
	t.Helper()
	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	stages := map[string]*stage{}
	var cur *stage
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			if len(f) != 3 || !strings.EqualFold(f[1], "AS") {
				t.Fatalf("Dockerfile: every stage is named: %q", line)
			}
			cur = &stage{name: f[2], from: f[0], env: map[string]string{}}
			if parent, ok := stages[f[0]]; ok { // a stage built on another inherits it
				maps.Copy(cur.env, parent.env)
				cur.copied = slices.Clone(parent.copied)
			}
			stages[cur.name] = cur
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV without '=': %q", line)
				}
				cur.env[k] = v
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &cur.entrypoint); err != nil {
				t.Fatalf("Dockerfile: ENTRYPOINT must be exec form: %q: %v", line, err)
			}
		case "COPY":
			f := strings.Fields(rest)
			if strings.HasPrefix(f[0], "--from=") {
				cur.copied = append(cur.copied, f[len(f)-1])
			}
		case "RUN":
			cur.run = append(cur.run, rest)
		}
	}
	return stages
}

// base follows a stage's FROM chain to the image it starts from.
func base(stages map[string]*stage, s *stage) string {
	for {
		parent, ok := stages[s.from]
		if !ok {
			return s.from
		}
		s = parent
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := dockerfile(t)
	bins := binaries(t)
	build, ok := stages["build"]
	if !ok || !strings.HasPrefix(build.from, "golang:") || build.env["CGO_ENABLED"] != "0" {
		t.Fatalf("builder stage: %+v, want FROM golang:... AS build with ENV CGO_ENABLED=0", build)
	}
	// Every package it builds exists, and the Go version is the module's.
	built := map[string]bool{}
	for _, m := range regexp.MustCompile(`go build [^&]*-o (\S+) (\./\S+)`).FindAllStringSubmatch(strings.Join(build.run, "\n"), -1) {
		if _, err := os.Stat(filepath.Join(repoRoot, m[2], "main.go")); err != nil {
			t.Errorf("Dockerfile builds %s: %v", m[2], err)
		}
		built[m[1]] = true
	}
	gomod, _ := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if v := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod); v == nil || build.from != "golang:"+string(v[1]) {
		t.Errorf("builder image %s, want golang:%s (go.mod)", build.from, v[1])
	}
	for _, target := range []string{"bridge", "table", "cli"} {
		s, ok := stages[target]
		if !ok {
			t.Errorf("no target %q", target)
			continue
		}
		if b := base(stages, s); !strings.HasPrefix(b, "gcr.io/distroless/static") && b != "scratch" {
			t.Errorf("target %s starts from %s, want a distroless static or scratch image", target, b)
		}
		if len(s.entrypoint) != 1 || !slices.Contains(s.copied, s.entrypoint[0]) || !built["/out"+s.entrypoint[0]] {
			t.Errorf("target %s: entrypoint %v is not a built binary copied into it (%v)", target, s.entrypoint, s.copied)
			continue
		}
		vars := bins[s.entrypoint[0]]
		for k := range s.env {
			if !vars[k] {
				t.Errorf("target %s sets %s, which %s does not read", target, k, s.entrypoint[0])
			}
		}
		if target != "cli" && (s.env["JETSYNC_HTTP_ADDR"] != ":8080" || s.env["JETSYNC_LOG_FORMAT"] != "json") {
			t.Errorf("target %s: ENV %v, want JETSYNC_HTTP_ADDR=:8080 JETSYNC_LOG_FORMAT=json", target, s.env)
		}
		if target != "cli" && !slices.Contains(s.copied, "/jetsync") {
			t.Errorf("target %s lacks /jetsync for its health check", target)
		}
	}
}

// compose is the part of a compose file the checks read.
type compose struct {
	Name     string
	Services map[string]struct {
		Image string
		Build *struct {
			Context, Dockerfile, Target string
		}
		Command     []string
		EnvFile     string            `yaml:"env_file"`
		Environment map[string]string `yaml:"environment"`
		Secrets     []string
		Volumes     []string
		DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
		Healthcheck *struct {
			Test                       []string
			Interval, Timeout, Retries any
		}
		Profiles []string
		Restart  string
	}
	Secrets map[string]struct{ File string }
	Volumes map[string]any
}

func readCompose(t *testing.T) compose {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(composeDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// readEnvFile reads KEY=value lines.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=value", path, line)
		}
		env[k] = v
	}
	return env
}

// jetsyncService is a compose service that runs a jetsync image: its
// binary and the environment it gets (image ENV, env_file, environment).
type jetsyncService struct {
	entrypoint string
	env        map[string]string
	health     []string
}

func composeServices(t *testing.T, c compose, stages map[string]*stage) map[string]jetsyncService {
	t.Helper()
	out := map[string]jetsyncService{}
	for name, s := range c.Services {
		if s.Build == nil {
			continue
		}
		st, ok := stages[s.Build.Target]
		if !ok || filepath.Clean(filepath.Join(composeDir, s.Build.Context, s.Build.Dockerfile)) != filepath.Clean(dockerfilePath) {
			t.Errorf("service %s builds %+v: not a target of %s", name, s.Build, dockerfilePath)
			continue
		}
		env := map[string]string{}
		for k, v := range st.env {
			env[k] = v
		}
		if s.EnvFile != "" {
			for k, v := range readEnvFile(t, filepath.Join(composeDir, s.EnvFile)) {
				env[k] = v
			}
		}
		for k, v := range s.Environment {
			env[k] = v
		}
		js := jetsyncService{entrypoint: st.entrypoint[0], env: env}
		if s.Healthcheck != nil {
			js.health = s.Healthcheck.Test
		}
		out[name] = js
	}
	return out
}

// checkSecrets: no password or token is given as a value; every _FILE
// variable points into mounted secrets (allowed tells whether a path is).
func checkSecrets(t *testing.T, where string, env map[string]string, allowed func(path string) bool) {
	t.Helper()
	for k, v := range env {
		switch {
		case strings.HasSuffix(k, "_FILE") && (strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN") || strings.Contains(k, "CREDS")):
			if !allowed(v) {
				t.Errorf("%s: %s=%s is not a mounted secret", where, k, v)
			}
		case strings.HasSuffix(k, "PASSWORD") || strings.HasSuffix(k, "TOKEN"):
			t.Errorf("%s: %s is set as a value; use %s_FILE with a secret", where, k, k)
		}
	}
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	c := readCompose(t)
	stages := dockerfile(t)
	bins := binaries(t)
	for _, name := range []string{"redis", "nats", "mysql", "bridge", "persons", "cars"} {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD" {
			t.Errorf("service %s: no exec-form healthcheck", name)
		}
	}
	nats := c.Services["nats"]
	if m := regexp.MustCompile(`^nats:2\.(\d+)`).FindStringSubmatch(nats.Image); m == nil || atoi(m[1]) < 10 {
		t.Errorf("nats image %s: want nats:2.10 or newer (consumer metadata)", nats.Image)
	}
	if i := slices.Index(nats.Command, "-sd"); !slices.Contains(nats.Command, "-js") || i < 0 || i+1 >= len(nats.Command) ||
		!slices.ContainsFunc(nats.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+nats.Command[i+1]) }) {
		t.Errorf("nats: command %v and volumes %v: want -js and -sd on a volume", nats.Command, nats.Volumes)
	}
	for _, v := range c.Services["mysql"].Volumes {
		if src, _, _ := strings.Cut(v, ":"); strings.HasPrefix(src, ".") {
			if _, err := os.Stat(filepath.Join(composeDir, src)); err != nil {
				t.Errorf("mysql volume %s: %v", v, err)
			}
		}
	}
	checkComposeSecrets(t, c)

	services := composeServices(t, c, stages)
	for _, name := range []string{"bridge", "persons", "cars"} {
		s, ok := services[name]
		if !ok {
			t.Errorf("service %s does not build a jetsync image", name)
			continue
		}
		vars := bins[s.entrypoint]
		for k := range s.env {
			if !vars[k] {
				t.Errorf("service %s sets %s, which %s does not read", name, k, s.entrypoint)
			}
		}
		checkSecrets(t, "service "+name, s.env, func(path string) bool {
			secret, ok := strings.CutPrefix(path, "/run/secrets/")
			_, declared := c.Secrets[secret]
			return ok && declared && slices.Contains(c.Services[name].Secrets, secret)
		})
		if name != "bridge" && (s.env["JETSYNC_FUNCTION_NAME"] != name || c.Services[name].EnvFile == "") {
			t.Errorf("service %s: JETSYNC_FUNCTION_NAME=%q from env_file %q", name, s.env["JETSYNC_FUNCTION_NAME"], c.Services[name].EnvFile)
		}
		checkProbe(t, "service "+name, s.health, s.env["JETSYNC_HTTP_ADDR"])
	}
}

// checkComposeSecrets: MySQL runs with a random root password and a
// dedicated user, jetsync, which the functions use; its password comes
// from a secret file that is not in version control (git ignores the
// folder), and no service gets a password or token as a value.
func checkComposeSecrets(t *testing.T, c compose) {
	t.Helper()
	mysql := c.Services["mysql"].Environment
	if mysql["MYSQL_RANDOM_ROOT_PASSWORD"] != "yes" || mysql["MYSQL_USER"] == "" || mysql["MYSQL_USER"] == "root" {
		t.Errorf("mysql: environment %v: want MYSQL_RANDOM_ROOT_PASSWORD=yes and a dedicated MYSQL_USER", mysql)
	}
	for name, s := range c.Services {
		for k, v := range s.Environment {
			if strings.Contains(k, "PASSWORD") && !strings.HasSuffix(k, "_FILE") && !(name == "mysql" && k == "MYSQL_RANDOM_ROOT_PASSWORD") {
				t.Errorf("service %s: %s=%s: a password given as a value", name, k, v)
			}
			if k == "JETSYNC_MYSQL_USER" && v != mysql["MYSQL_USER"] {
				t.Errorf("service %s: JETSYNC_MYSQL_USER=%s, not the dedicated user %s", name, v, mysql["MYSQL_USER"])
			}
			if k == "JETSYNC_MYSQL_PASSWORD_FILE" && v != mysql["MYSQL_PASSWORD_FILE"] {
				t.Errorf("service %s: JETSYNC_MYSQL_PASSWORD_FILE=%s, not the user's secret %s", name, v, mysql["MYSQL_PASSWORD_FILE"])
			}
		}
	}
	for name, sec := range c.Secrets {
		path := filepath.Join(composeDir, sec.File)
		if out, err := exec.Command("git", "ls-files", "--", path).Output(); err != nil || len(out) > 0 {
			t.Errorf("secret %s: %s is committed (%v)", name, sec.File, err)
		}
		if err := exec.Command("git", "check-ignore", "-q", path).Run(); err != nil {
			t.Errorf("secret %s: git does not ignore %s: %v", name, sec.File, err)
		}
	}
}

// checkProbe: the health check runs `/jetsync probe` on the port the
// process serves, on a path it serves.
func checkProbe(t *testing.T, where string, test []string, httpAddr string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(httpAddr)
	if len(test) != 4 || test[1] != "/jetsync" || test[2] != "probe" || test[3] != "http://127.0.0.1:"+port+"/readyz" {
		t.Errorf("%s: healthcheck %v, want [CMD /jetsync probe http://127.0.0.1:%s/readyz] (JETSYNC_HTTP_ADDR=%s)", where, test, port, httpAddr)
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// k8sObject is the part of a manifest the checks read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string
	Metadata   struct {
		Name   string
		Labels map[string]string
	}
	Data       map[string]string
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas *int
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		}
		Template struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				Containers []k8sContainer
				Volumes    []struct {
					Name   string
					Secret *struct {
						SecretName string `yaml:"secretName"`
						Items      []struct{ Key, Path string }
					}
				}
			}
		}
	}
}

type k8sContainer struct {
	Name  string
	Image string
	Env   []struct {
		Name  string
		Value string
	}
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
		SecretRef    *struct{ Name string } `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string
		Port any
	} `yaml:"httpGet"`
}

func readK8s(t *testing.T) []k8sObject {
	t.Helper()
	var kust struct {
		Resources       []string
		SecretGenerator []struct {
			Name  string
			Files []string
		} `yaml:"secretGenerator"`
	}
	data, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &kust); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !slices.Contains(kust.Resources, b) {
			t.Errorf("%s is not listed in kustomization.yaml", b)
		}
	}
	var objs []k8sObject
	// Generated Secrets: from files the operator writes, which are neither
	// committed nor trackable (git ignores them).
	for _, g := range kust.SecretGenerator {
		o := k8sObject{APIVersion: "v1", Kind: "Secret", StringData: map[string]string{}}
		o.Metadata.Name = g.Name
		for _, f := range g.Files {
			key, file, ok := strings.Cut(f, "=")
			if !ok {
				file = key
			}
			path := filepath.Join(k8sDir, file)
			if out, err := exec.Command("git", "ls-files", "--", path).Output(); err != nil || len(out) > 0 {
				t.Errorf("secret %s: %s is committed (%v)", g.Name, file, err)
			}
			if err := exec.Command("git", "check-ignore", "-q", path).Run(); err != nil {
				t.Errorf("secret %s: git does not ignore %s: %v", g.Name, file, err)
			}
			o.StringData[key] = "(from " + file + ")"
		}
		objs = append(objs, o)
	}
	for _, r := range kust.Resources {
		data, err := os.ReadFile(filepath.Join(k8sDir, r))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(false)
		for {
			var o k8sObject
			if err := dec.Decode(&o); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("%s: %v", r, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: an object without apiVersion, kind or metadata.name: %+v", r, o)
			}
			if o.Kind == "Secret" && len(o.Data)+len(o.StringData) > 0 {
				t.Errorf("%s: Secret %s commits its values; generate it from an ignored file (secretGenerator)", r, o.Metadata.Name)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	objs := readK8s(t)
	stages := dockerfile(t)
	bins := binaries(t)
	images := map[string]string{"jetsync-bridge": "bridge", "jetsync-table": "table", "jetsync": "cli"}
	configMaps, secrets := map[string]map[string]string{}, map[string]map[string]string{}
	for _, o := range objs {
		switch o.Kind {
		case "ConfigMap":
			configMaps[o.Metadata.Name] = o.Data
		case "Secret":
			secrets[o.Metadata.Name] = o.StringData
		}
	}
	deployments := map[string]bool{}
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		name := o.Metadata.Name
		deployments[name] = true
		if o.APIVersion != "apps/v1" || len(o.Spec.Selector.MatchLabels) == 0 {
			t.Errorf("%s: apiVersion %s, selector %v", name, o.APIVersion, o.Spec.Selector.MatchLabels)
		}
		for k, v := range o.Spec.Selector.MatchLabels {
			if o.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod labels", name, k, v)
			}
		}
		if len(o.Spec.Template.Spec.Containers) != 1 {
			t.Errorf("%s: want one container", name)
			continue
		}
		c := o.Spec.Template.Spec.Containers[0]
		img, _, _ := strings.Cut(c.Image, ":")
		st, ok := stages[images[img]]
		if !ok {
			t.Errorf("%s: image %s is not built by the Dockerfile", name, c.Image)
			continue
		}
		env := map[string]string{}
		for k, v := range st.env {
			env[k] = v
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				t.Errorf("%s: envFrom secretRef %s: credentials go in files", name, ef.SecretRef.Name)
				continue
			}
			data, ok := configMaps[ef.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: ConfigMap %s is not defined", name, ef.ConfigMapRef.Name)
			}
			for k, v := range data {
				env[k] = v
			}
		}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		vars := bins[st.entrypoint[0]]
		for k := range env {
			if !vars[k] {
				t.Errorf("%s sets %s, which %s does not read", name, k, st.entrypoint[0])
			}
		}
		// Secret files: under a mount of a Secret volume, as one of its items.
		checkSecrets(t, name, env, func(path string) bool {
			for _, m := range c.VolumeMounts {
				rel, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
				if !ok {
					continue
				}
				for _, v := range o.Spec.Template.Spec.Volumes {
					if v.Name != m.Name || v.Secret == nil {
						continue
					}
					data, defined := secrets[v.Secret.SecretName]
					for _, it := range v.Secret.Items {
						if _, has := data[it.Key]; defined && has && it.Path == rel {
							return true
						}
					}
				}
			}
			return false
		})
		// Probes on the served paths and on the port the process listens on.
		_, port, _ := net.SplitHostPort(env["JETSYNC_HTTP_ADDR"])
		for _, p := range []struct {
			kind  string
			probe *k8sProbe
			path  string
		}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
			if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path {
				t.Errorf("%s: %s probe %+v, want httpGet %s", name, p.kind, p.probe, p.path)
				continue
			}
			got := fmt.Sprint(p.probe.HTTPGet.Port)
			for _, cp := range c.Ports {
				if cp.Name == got {
					got = strconv.Itoa(cp.ContainerPort)
				}
			}
			if got != port {
				t.Errorf("%s: %s probe on port %s, but JETSYNC_HTTP_ADDR=%s", name, p.kind, got, env["JETSYNC_HTTP_ADDR"])
			}
		}
		if img == "jetsync-bridge" {
			if o.Spec.Replicas == nil || *o.Spec.Replicas != 2 || env["JETSYNC_HA_LEASE"] == "false" {
				t.Errorf("%s: want 2 replicas taking turns through the HA lease", name)
			}
		} else if fn := env["JETSYNC_FUNCTION_NAME"]; "jetsync-"+fn != name {
			t.Errorf("%s runs function %q", name, fn)
		}
	}
	for _, want := range []string{"jetsync-bridge", "jetsync-persons", "jetsync-cars"} {
		if !deployments[want] {
			t.Errorf("no Deployment %s", want)
		}
	}
}

// TestContainerConfigurationsValidate runs the table function's own
// configuration parsing and validation on the environment of each function
// in compose.yaml and in the Kubernetes manifests (secret paths point at
// the compose secret file, or a temporary file for Kubernetes). It sets
// process variables, so it does not run in parallel.
func TestContainerConfigurationsValidate(t *testing.T) {
	validate := func(t *testing.T, env map[string]string, secretFile func(path string) string) {
		t.Helper()
		for k, v := range env {
			if strings.HasPrefix(v, "/run/secrets/") {
				v = secretFile(v)
			}
			t.Setenv(k, v)
		}
		var cfg Config
		if err := envconfig.Process("jetsync", &cfg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Build(cfg); err != nil {
			t.Fatal(err)
		}
	}
	c := readCompose(t)
	stages := dockerfile(t)
	services := composeServices(t, c, stages)
	secret := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(secret, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"persons", "cars"} {
		t.Run("compose "+name, func(t *testing.T) {
			validate(t, services[name].env, func(path string) string {
				if _, ok := c.Secrets[strings.TrimPrefix(path, "/run/secrets/")]; !ok {
					t.Fatalf("%s is not a declared secret", path)
				}
				return secret
			})
		})
	}
	objs := readK8s(t)
	configMaps := map[string]map[string]string{}
	for _, o := range objs {
		if o.Kind == "ConfigMap" {
			configMaps[o.Metadata.Name] = o.Data
		}
	}
	for _, o := range objs {
		if o.Kind != "Deployment" || !strings.HasPrefix(o.Spec.Template.Spec.Containers[0].Image, "jetsync-table:") {
			continue
		}
		t.Run("k8s "+o.Metadata.Name, func(t *testing.T) {
			ct := o.Spec.Template.Spec.Containers[0]
			env := maps.Clone(stages["table"].env)
			for _, ef := range ct.EnvFrom {
				maps.Copy(env, configMaps[ef.ConfigMapRef.Name])
			}
			for _, e := range ct.Env {
				env[e.Name] = e.Value
			}
			validate(t, env, func(string) string { return secret })
		})
	}
}

// TestComposeServicesAsProcesses runs the bridge and the persons and cars
// services of compose.yaml as processes, with their image's entrypoint and
// exactly their environment (image ENV + env_file + environment) except
// for what cannot be the same on one machine: the addresses of Redis, NATS
// and MySQL become the local servers', :8080 a free port per process, the
// MySQL user root and its secret file an empty one (MariaDB's root has no
// password here), and the
// prefixes, tables, function names and stream unique names so that tests
// can run in parallel. Then it runs the compose health checks and writes
// the seed's keys, which must land in both tables.
func TestComposeServicesAsProcesses(t *testing.T) {
	t.Parallel()
	bins := map[string]string{
		"/jetsync-bridge": testenv.Build(t, "../../bridge/cmd/jetsync-bridge"),
		"/jetsync-table":  testenv.Build(t, "./cmd/jetsync-table"),
		"/jetsync":        testenv.Build(t, "../../infra/cmd/jetsync"),
	}
	w := newWorld(t)
	ctx := context.Background()
	c := readCompose(t)
	services := composeServices(t, c, dockerfile(t))

	person, car := w.Prefix("person"), w.Prefix("car")
	persons := w.Table("persons", "person_id VARBINARY(255) NOT NULL PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT")
	cars := w.Table("cars", "car_id VARBINARY(255) NOT NULL PRIMARY KEY, id VARCHAR(255), color VARCHAR(255)")
	secretDir := t.TempDir()
	rename := map[string]string{
		"person": person, "car": car, "person,car": person + "," + car,
		"persons": persons, "cars": cars,
		"redis:6379": testenv.RedisAddr(), "nats://nats:4222": w.NATSURL, "mysql:3306": testenv.MySQLAddr(),
	}
	local := func(name string, env map[string]string) (vars []string, healthURL string) {
		out := map[string]string{"JETSYNC_STREAM": w.Stream}
		for k, v := range env {
			if r, ok := rename[v]; ok && k != "JETSYNC_MYSQL_USER" {
				v = r
			}
			switch {
			case k == "JETSYNC_MYSQL_USER":
				v = "root" // the local MariaDB's, which has no password
			case k == "JETSYNC_FUNCTION_NAME":
				v = testenv.Name(v)
			case k == "JETSYNC_HTTP_ADDR":
				v = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
				healthURL = "http://" + v + "/readyz"
			case strings.HasPrefix(v, "/run/secrets/"):
				v = filepath.Join(secretDir, filepath.Base(v))
				if err := os.WriteFile(v, []byte("\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out[k] = v
		}
		for k, v := range out {
			vars = append(vars, k+"="+v)
		}
		slices.Sort(vars)
		t.Logf("%s: %s", name, strings.Join(vars, " "))
		return vars, healthURL
	}

	for _, name := range []string{"bridge", "persons", "cars"} {
		s := services[name]
		env, healthURL := local(name, s.env)
		cmd := exec.Command(bins[s.entrypoint])
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
		// The compose health check, as the container engine would run it.
		probe := slices.Clone(s.health[1:])
		probe[0] = bins[probe[0]]
		probe[len(probe)-1] = healthURL
		testenv.Eventually(t, 20*time.Second, func() error {
			if b, err := exec.Command(probe[0], probe[1:]...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s health check %v: %v: %s", name, probe, err, b)
			}
			return nil
		})
	}

	w.Redis.HSet(ctx, person+":5", "first_name", "Marek", "last_name", "Michalski", "age", "27")
	w.Redis.HSet(ctx, car+":1", "id", "WX1234", "color", "red")
	w.WaitRows(20*time.Second, []string{"5|Marek|Michalski|27"}, "SELECT person_id, first, last, age FROM "+persons)
	w.WaitRows(20*time.Second, []string{"1|WX1234|red"}, "SELECT car_id, id, color FROM "+cars)
}
