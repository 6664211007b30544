package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/jwtgate/jwtgate/cmd/jwtgate/cli"
	"github.com/jwtgate/jwtgate/gateway"
)

const chartDir = "helm/jwtgate"

// helmBinary is the helm CLI that .ci/run installs (go install
// helm.sh/helm/v4/cmd/helm) when it is missing: on PATH, or in GOPATH/bin.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "helm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("helm not found: .ci/run installs it with `go install helm.sh/helm/v4/cmd/helm@v4.3.2`")
	return ""
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	// Keep helm away from the user's repositories and caches.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, errb.String(), out.String())
	}
	return out.String(), err
}

// valueSets are the values the chart is checked with: its defaults and
// every example in ci/ (the ones the docs show).
func valueSets(t *testing.T) map[string][]string {
	t.Helper()
	sets := map[string][]string{"defaults": nil}
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example values in %s/ci: %v", chartDir, err)
	}
	for _, f := range files {
		sets[filepath.Base(f)] = []string{"-f", f}
	}
	// The values blocks of the docs run as written.
	blocks := docBlocks(t, regexp.MustCompile(`(?m)^config:`))
	if len(blocks) < 2 {
		t.Fatalf("found %d values blocks in the docs: the pattern is stale", len(blocks))
	}
	dir := t.TempDir()
	for i, b := range blocks {
		f := filepath.Join(dir, fmt.Sprintf("doc-%d.yaml", i))
		if err := os.WriteFile(f, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		sets[fmt.Sprintf("docs block %d", i)] = []string{"-f", f}
	}
	return sets
}

// docBlocks are the ```yaml blocks of README.md and docs/kubernetes.md that
// match pick.
func docBlocks(t *testing.T, pick *regexp.Regexp) []string {
	t.Helper()
	var blocks []string
	for _, name := range []string{"../README.md", "../docs/kubernetes.md"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1) {
			if pick.Match(m[1]) {
				blocks = append(blocks, string(m[1]))
			}
		}
	}
	return blocks
}

// The app Ingress the docs show decodes as an Ingress and asks the
// auth-url example's Service, on its strip_prefix decision route, with the
// original request's path and query after it.
func TestDocumentedIngressAsksJwtgate(t *testing.T) {
	blocks := docBlocks(t, regexp.MustCompile(`(?m)^kind: Ingress`))
	if len(blocks) == 0 {
		t.Fatal("no app Ingress in the docs")
	}
	au := render(t, "-f", filepath.Join(chartDir, "ci", "auth-url-values.yaml"))
	want := fmt.Sprintf("http://%s.auth.svc.cluster.local/_jwtgate$request_uri", au.service.Name)
	for _, b := range blocks {
		var ing networkingv1.Ingress
		if err := strict([]byte(b), &ing); err != nil {
			t.Fatalf("the documented Ingress does not decode: %v", err)
		}
		if got := ing.Annotations["nginx.ingress.kubernetes.io/auth-url"]; got != want {
			t.Errorf("auth-url %q, want %q", got, want)
		}
		if got := ing.Annotations["nginx.ingress.kubernetes.io/auth-response-headers"]; got != "X-Jwtgate-Subject" {
			t.Errorf("auth-response-headers %q", got)
		}
	}
}

func TestChartLints(t *testing.T) {
	for name, args := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			if out, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
				t.Fatal(err)
			} else if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
}

// rendered is one chart rendering, every manifest decoded strictly.
type rendered struct {
	deployment     *appsv1.Deployment
	configMap      *corev1.ConfigMap
	service        *corev1.Service
	serviceAccount *corev1.ServiceAccount
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	pdb            *policyv1.PodDisruptionBudget
	ingress        *networkingv1.Ingress
	serviceMonitor *serviceMonitor
}

// serviceMonitor is the part of the Prometheus Operator's CRD the chart
// writes; the CRD's Go types would bring the operator's module in.
type serviceMonitor struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   metav1ObjectMeta   `json:"metadata"`
	Spec       serviceMonitorSpec `json:"spec"`
}

type metav1ObjectMeta struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type serviceMonitorSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	Endpoints []struct {
		Port     string `json:"port"`
		Path     string `json:"path"`
		Interval string `json:"interval"`
	} `json:"endpoints"`
}

// strict decodes one manifest into v, refusing any field the type does not
// have: a misspelt or misplaced key in a template fails here, not in a
// cluster.
func strict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func render(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", "rel", chartDir, "--namespace", "auth"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var r rendered
	seen := map[string]bool{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue // a file rendered empty (a disabled template)
		}
		gvk := head.APIVersion + "/" + head.Kind
		if seen[gvk] {
			t.Fatalf("two %s manifests", gvk)
		}
		seen[gvk] = true
		var v any
		switch gvk {
		case "apps/v1/Deployment":
			r.deployment = new(appsv1.Deployment)
			v = r.deployment
		case "v1/ConfigMap":
			r.configMap = new(corev1.ConfigMap)
			v = r.configMap
		case "v1/Service":
			r.service = new(corev1.Service)
			v = r.service
		case "v1/ServiceAccount":
			r.serviceAccount = new(corev1.ServiceAccount)
			v = r.serviceAccount
		case "autoscaling/v2/HorizontalPodAutoscaler":
			r.hpa = new(autoscalingv2.HorizontalPodAutoscaler)
			v = r.hpa
		case "policy/v1/PodDisruptionBudget":
			r.pdb = new(policyv1.PodDisruptionBudget)
			v = r.pdb
		case "networking.k8s.io/v1/Ingress":
			r.ingress = new(networkingv1.Ingress)
			v = r.ingress
		case "monitoring.coreos.com/v1/ServiceMonitor":
			r.serviceMonitor = new(serviceMonitor)
			v = r.serviceMonitor
		default:
			t.Fatalf("the chart rendered a %s this test does not know: add its type", gvk)
		}
		if err := strict([]byte(doc), v); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", gvk, err, doc)
		}
	}
	if r.deployment == nil || r.service == nil {
		t.Fatalf("no Deployment or Service rendered:\n%s", out)
	}
	return r
}

// Every value set renders manifests that decode into the Kubernetes types,
// run the gateway hardened, probe it where it answers, and hand it a config
// the gateway itself accepts.
func TestChartRendersValidManifests(t *testing.T) {
	for name, args := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			r := render(t, args...)
			d := r.deployment
			pod := d.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers", len(pod.Containers))
			}
			c := pod.Containers[0]

			if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
				t.Error("pod may run as root")
			}
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Fatal("no container securityContext")
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Error("root filesystem writable")
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Error("privilege escalation allowed")
			case sc.Privileged != nil && *sc.Privileged:
				t.Error("privileged")
			case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
				t.Error("capabilities not dropped")
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("the gateway talks to no Kubernetes API: its token must not be mounted")
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Error("no resource requests")
			}
			for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "http" {
					t.Errorf("probe %+v, want GET %s on port http", probe, want)
				}
			}
			if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
				ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("strategy %+v: a rollout must not drop below the wanted replicas", d.Spec.Strategy)
			}
			if len(c.Ports) != 1 || c.Ports[0].Name != "http" {
				t.Errorf("ports %+v", c.Ports)
			}
			if r.service.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("service targets %v", r.service.Spec.Ports[0].TargetPort)
			}
			for k, v := range r.service.Spec.Selector {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("service selector %s=%s matches no pod label", k, v)
				}
			}

			// The config file the pod reads is where the ConfigMap is
			// mounted, mounted whole (a subPath mount is never updated,
			// and then -watch would see nothing).
			cfgPath := argAfter(t, c.Args, "-config")
			if len(c.VolumeMounts) != 1 || filepath.Dir(cfgPath) != c.VolumeMounts[0].MountPath || c.VolumeMounts[0].SubPath != "" {
				t.Fatalf("config %s, mounts %+v", cfgPath, c.VolumeMounts)
			}
			vol := pod.Volumes[0]
			if vol.ConfigMap == nil || r.configMap == nil || vol.ConfigMap.Name != r.configMap.Name {
				t.Fatalf("volume %+v does not mount the rendered ConfigMap", vol)
			}
			listen := argAfter(t, c.Args, "-listen")
			if listen != fmt.Sprintf(":%d", c.Ports[0].ContainerPort) {
				t.Errorf("listens on %s, container port %d", listen, c.Ports[0].ContainerPort)
			}

			cfg, err := gateway.ParseYAML([]byte(r.configMap.Data[filepath.Base(cfgPath)]))
			if err != nil {
				t.Fatal(err)
			}
			// The variables the config names come from secretEnv at run
			// time: a config that names one needs the Secret referenced.
			var named []string
			lookup := func(name string) (string, bool) { named = append(named, name); return "set-by-the-secret", true }
			if _, err := cfg.Validate(lookup); err != nil {
				t.Fatalf("the rendered config is not a valid gateway config: %v", err)
			}
			if len(named) > 0 && (len(c.EnvFrom) == 0 || c.EnvFrom[0].SecretRef == nil) {
				t.Errorf("the config names %v but no Secret is referenced (secretEnv)", named)
			}
			// The container's command line is one the program takes, with
			// the mounted file where -config says.
			for _, name := range named {
				t.Setenv(name, "set-by-the-secret")
			}
			args := slices.Clone(c.Args)
			mounted := filepath.Join(t.TempDir(), filepath.Base(cfgPath))
			if err := os.WriteFile(mounted, []byte(r.configMap.Data[filepath.Base(cfgPath)]), 0o600); err != nil {
				t.Fatal(err)
			}
			args[slices.Index(args, "-config")+1] = mounted
			var stderr bytes.Buffer
			if _, flags, err := cli.ParseArgs(args, &stderr); err != nil {
				t.Fatalf("jwtgate %v: %v\n%s", c.Args, err, stderr.String())
			} else if flags.Demo || flags.ConfigFile != mounted {
				t.Errorf("jwtgate %v: demo %v, config %q", c.Args, flags.Demo, flags.ConfigFile)
			}

			if r.hpa != nil {
				if d.Spec.Replicas != nil {
					t.Error("with an HPA the Deployment must not set replicas (each upgrade would reset the scale)")
				}
				if r.hpa.Spec.ScaleTargetRef.Name != d.Name {
					t.Errorf("HPA scales %s", r.hpa.Spec.ScaleTargetRef.Name)
				}
			}
			if r.pdb != nil {
				for k, v := range r.pdb.Spec.Selector.MatchLabels {
					if d.Spec.Template.Labels[k] != v {
						t.Errorf("PDB selector %s=%s matches no pod", k, v)
					}
				}
			}
			if sm := r.serviceMonitor; sm != nil && (len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Port != "http") {
				t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
			}
			if ing := r.ingress; ing != nil {
				for _, rule := range ing.Spec.Rules {
					for _, p := range rule.HTTP.Paths {
						if p.Backend.Service == nil || p.Backend.Service.Name != r.service.Name {
							t.Errorf("ingress path %s goes to %+v", p.Path, p.Backend)
						}
					}
				}
			}
		})
	}
}

// The example values render what their comments promise: the gateway
// example every optional object, the auth-url example a bare decision
// service under a fixed name the Ingress annotation can point at.
func TestChartExamples(t *testing.T) {
	gw := render(t, "-f", filepath.Join(chartDir, "ci", "gateway-values.yaml"))
	if gw.hpa == nil || gw.pdb == nil || gw.serviceMonitor == nil || gw.ingress == nil {
		t.Errorf("gateway example: hpa %v pdb %v serviceMonitor %v ingress %v", gw.hpa != nil, gw.pdb != nil, gw.serviceMonitor != nil, gw.ingress != nil)
	}
	au := render(t, "-f", filepath.Join(chartDir, "ci", "auth-url-values.yaml"))
	if au.ingress != nil || au.service.Name != "jwtgate" {
		t.Errorf("auth-url example: ingress %v, service %q", au.ingress != nil, au.service.Name)
	}
	cfg, err := gateway.ParseYAML([]byte(au.configMap.Data["jwtgate.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range cfg.Routes {
		if rt.Mode != gateway.ModeDecision {
			t.Errorf("auth-url example: route %s is %q, not a decision route", rt.Prefix, rt.Mode)
		}
	}
	single := render(t, "--set", "replicaCount=1")
	if single.pdb != nil {
		t.Error("a PodDisruptionBudget for one replica blocks every node drain")
	}
}

// With -watch (the default) a config-only change rolls no pod: the pod
// template does not change, and the running gateways swap the mounted file
// in. Without it, the config's checksum is in the template, so a change
// rolls the pods.
func TestChartConfigChangeRollout(t *testing.T) {
	a := render(t)
	b := render(t, "--set", "config.audiences[0]=other")
	if a.configMap.Data["jwtgate.yaml"] == b.configMap.Data["jwtgate.yaml"] {
		t.Fatal("the config change did not reach the ConfigMap")
	}
	if !slices.Contains(a.deployment.Spec.Template.Spec.Containers[0].Args, "-watch") {
		t.Fatal("reload.watch is on by default, but -watch is not passed")
	}
	if !equalJSON(t, a.deployment.Spec.Template, b.deployment.Spec.Template) {
		t.Error("with -watch a config change changed the pod template (it would roll every pod)")
	}

	c := render(t, "--set", "reload.watch=false")
	d := render(t, "--set", "reload.watch=false", "--set", "config.audiences[0]=other")
	if slices.Contains(c.deployment.Spec.Template.Spec.Containers[0].Args, "-watch") {
		t.Error("-watch passed with reload.watch=false")
	}
	if equalJSON(t, c.deployment.Spec.Template, d.deployment.Spec.Template) {
		t.Error("without -watch a config change left the pod template alone: the pods would keep the old config")
	}
}

// Values the chart cannot honour are refused when rendering, with the
// reason, instead of producing a gateway that fails at start.
func TestChartRefusesBadValues(t *testing.T) {
	for name, set := range map[string]string{
		"listen in config":  "config.listen=:9999",
		"unknown top key":   "replicas=3",
		"bad pull policy":   "image.pullPolicy=Sometimes",
		"port out of range": "containerPort=70000",
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := helm(t, "template", "rel", chartDir, "--set", set); err == nil {
				t.Fatalf("rendered with %s:\n%s", set, out)
			}
		})
	}
	if _, err := helm(t, "template", "rel", chartDir, "--set", "config=null"); err == nil {
		t.Error("rendered with neither config nor existingConfigMap")
	}
	r := render(t, "--set", "config=null", "--set", "existingConfigMap=mine")
	if r.configMap != nil || r.deployment.Spec.Template.Spec.Volumes[0].ConfigMap.Name != "mine" {
		t.Error("existingConfigMap is not the one mounted")
	}
}

func argAfter(t *testing.T, args []string, flag string) string {
	t.Helper()
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("args %v have no %s", args, flag)
	}
	return args[i+1]
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
