// Command manifestcheck reads Kubernetes manifests (YAML documents, e.g. `helm template`
// output) on stdin and decodes each into its typed API object with strict decoding, the
// way the API server would read it: an unknown kind, an unknown or duplicated field or a
// value of the wrong type is an error. It prints one line per object, or the problems and
// exit status 1. Used by deploy/check.sh where no cluster is at hand.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

func main() {
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	problems := 0
	objects := 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cannot read YAML:", err)
			os.Exit(1)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		objects++
		_, kind, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			problems++
			fmt.Fprintf(os.Stderr, "document %d: %v\n", objects, err)
			continue
		}
		fmt.Printf("ok %s/%s\n", kind.GroupVersion(), kind.Kind)
	}
	if problems > 0 || objects == 0 {
		fmt.Fprintf(os.Stderr, "%d of %d objects invalid\n", problems, objects)
		os.Exit(1)
	}
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}
