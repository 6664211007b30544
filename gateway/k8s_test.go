package gateway

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"slices"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"go.yaml.in/yaml/v3"
)

// The gateway config in docs/getting-started.md's Kubernetes manifests is a
// valid config, and the Deployment's args point at where the ConfigMap is
// mounted and watch it.
func TestKubernetesManifestConfigValidates(t *testing.T) {
	docs, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(apiVersion: v1\nkind: ConfigMap.*?)```").FindSubmatch(docs)
	if m == nil {
		t.Fatal("no Kubernetes manifests in the docs")
	}
	dec := yaml.NewDecoder(bytes.NewReader(m[1]))
	var config, mountPath string
	var args []string
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Args         []string `yaml:"args"`
							VolumeMounts []struct {
								MountPath string `yaml:"mountPath"`
							} `yaml:"volumeMounts"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch doc.Kind {
		case "ConfigMap":
			config = doc.Data["jwtgate.yaml"]
		case "Deployment":
			c := doc.Spec.Template.Spec.Containers[0]
			args, mountPath = c.Args, c.VolumeMounts[0].MountPath
		}
	}
	cfg, err := ParseYAML([]byte(config))
	if err == nil {
		_, err = cfg.Validate(gwtest.Env(nil))
	}
	if err != nil {
		t.Fatalf("the ConfigMap's jwtgate.yaml: %v", err)
	}
	// -config names the file in the mounted directory, and -watch reloads
	// it when the ConfigMap changes.
	i := slices.Index(args, "-config")
	if i < 0 || i+1 >= len(args) || args[i+1] != mountPath+"/jwtgate.yaml" || !slices.Contains(args, "-watch") {
		t.Fatalf("the Deployment runs %q with the config mounted at %q", args, mountPath)
	}
}
