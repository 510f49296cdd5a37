package enrichment

import (
	"testing"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

func TestDevice(t *testing.T) {
	tests := []struct {
		name, ua, deviceOS           string
		sent                         eventdoc.Source // what the SDK sent itself (copied in before this step)
		wantOS, wantVersion, wantDev string
	}{
		{"sdk style", "Shop/4.2.0 (iPhone15,2; iOS 18.1; Scale/3.00)", "", eventdoc.Source{}, "iOS", "18.1", "iPhone15,2"},
		{"device_os wins over UA", "Shop/4.2.0 (iPhone15,2; iOS 18.0)", "iOS 18.1.1", eventdoc.Source{}, "iOS", "18.1.1", "iPhone15,2"},
		{"ipad sdk", "Shop/4.2.0 (iPad13,4; iPadOS 17.5)", "", eventdoc.Source{}, "iPadOS", "17.5", "iPad13,4"},
		{"alamofire", "Shop/4.2.0 (com.example.shop; build:42; iOS 17.0.0) Alamofire/5.8.0", "", eventdoc.Source{}, "iOS", "17.0.0", ""},
		{"cfnetwork", "Shop/42 CFNetwork/1494.0.7 Darwin/23.4.0", "", eventdoc.Source{}, "iOS", "17", ""},
		{"cfnetwork, Darwin 24 is iOS 18", "Shop/42 CFNetwork/1568.100.1 Darwin/24.1.0", "", eventdoc.Source{}, "iOS", "18", ""},
		{"cfnetwork, Darwin 25 is iOS 26 (named by year)", "Shop/42 CFNetwork/3826.400.120 Darwin/25.1.0", "", eventdoc.Source{}, "iOS", "26", ""},
		{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15", "", eventdoc.Source{}, "iOS", "17.0", "iPhone"},
		{"safari ipad", "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15", "", eventdoc.Source{}, "iPadOS", "16.6", "iPad"},
		{"dalvik", "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A.240805.005)", "", eventdoc.Source{}, "Android", "14", "Pixel 8"},
		{"chrome android", "Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 Chrome/120.0 Mobile", "", eventdoc.Source{}, "Android", "10", "SM-G973F"},
		{"okhttp with device_os", "okhttp/4.12.0", "Android 13", eventdoc.Source{}, "Android", "13", ""},
		{"lower-case device_os", "", "android 12.1", eventdoc.Source{}, "Android", "12.1", ""},
		{"underscored device_os", "", "iPhone OS 16_4", eventdoc.Source{}, "iOS", "16.4", ""},
		{"device_os without version", "", "Android", eventdoc.Source{}, "Android", "", ""},
		{"unknown device_os keeps UA", "Shop/1 (iPhone14,5; iOS 16.2)", "Tizen 7", eventdoc.Source{}, "iOS", "16.2", "iPhone14,5"},
		{"windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "", eventdoc.Source{}, "Windows", "NT 10.0", ""},
		{"nothing known", "curl/8.5.0", "", eventdoc.Source{}, "", "", ""},
		{"empty", "", "", eventdoc.Source{}, "", "", ""},
		{"sdk fields win", "Shop/4.2.0 (iPhone15,2; iOS 18.0)", "iOS 18.0", eventdoc.Source{OSName: "iPadOS", OSVersion: "18.2", DeviceModel: "iPad16,3"}, "iPadOS", "18.2", "iPad16,3"},
		{"sdk os name alone keeps its pair", "Shop/4.2.0 (iPhone15,2; iOS 18.0)", "", eventdoc.Source{OSName: "iOS"}, "iOS", "", "iPhone15,2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &tt.sent
			Device{}.ForBatch(&telemetryv1.EventBatch{UserAgent: tt.ua})(&telemetryv1.Event{DeviceOs: tt.deviceOS}, d)
			if d.OSName != tt.wantOS || d.OSVersion != tt.wantVersion || d.DeviceModel != tt.wantDev {
				t.Errorf("got %q %q %q, want %q %q %q", d.OSName, d.OSVersion, d.DeviceModel, tt.wantOS, tt.wantVersion, tt.wantDev)
			}
			if d.UserAgent != tt.ua {
				t.Errorf("user_agent %q", d.UserAgent)
			}
		})
	}
}
