#include "svg_plot.h"

#include "format.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <vector>

namespace coraft::bench {
namespace {

constexpr double width = 760;
constexpr double height = 440;
constexpr double left = 80;
constexpr double right = 80;
constexpr double top = 60;
constexpr double bottom = 60;
constexpr double plot_width = width - left - right;
constexpr double plot_height = height - top - bottom;
constexpr int value_ticks = 5;

struct series_point {
  double clients;
  double ops_per_second;
  double p99_ms;
};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The smallest of 1, 2, 2.5, 5 times a power of ten at or above `value`.
double nice_ceiling(double value) {
  if (value <= 0) return 1;
  const double power = std::pow(10.0, std::floor(std::log10(value)));
  for (double step : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (step * power >= value * (1 - 1e-9)) return step * power;
  }
  return 10 * power;
}

std::string tick_text(double value) {
  if (value >= 1e6) return format_fixed(value / 1e6, value >= 1e7 ? 0 : 1) + "M";
  if (value >= 1e3) return format_fixed(value / 1e3, value >= 1e4 ? 0 : 1) + "k";
  if (value == std::floor(value)) return format_fixed(value, 0);
  return format_fixed(value, value >= 1 ? 1 : 2);
}

const char* colour_of(client_place place) { return place == client_place::leader ? "#1f77b4" : "#d62728"; }

class canvas {
 public:
  canvas(double min_clients, double max_clients, double max_ops, double max_p99)
      : min_log_(std::log2(min_clients)), max_log_(std::log2(max_clients)), max_ops_(max_ops), max_p99_(max_p99) {}

  double x(double clients) const {
    if (max_log_ == min_log_) return left + plot_width / 2;
    return left + (std::log2(clients) - min_log_) / (max_log_ - min_log_) * plot_width;
  }
  double y_ops(double ops) const { return top + plot_height * (1 - ops / max_ops_); }
  double y_p99(double p99) const { return top + plot_height * (1 - p99 / max_p99_); }

 private:
  double min_log_;
  double max_log_;
  double max_ops_;
  double max_p99_;
};

void draw_axes(std::ostream& svg, const canvas& c, const std::set<double>& clients, double max_ops, double max_p99) {
  svg << "<g stroke=\"#888\" stroke-width=\"1\">\n"
      << "<line x1=\"" << left << "\" y1=\"" << top + plot_height << "\" x2=\"" << left + plot_width << "\" y2=\""
      << top + plot_height << "\"/>\n"
      << "<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\"" << top + plot_height << "\"/>\n"
      << "<line x1=\"" << left + plot_width << "\" y1=\"" << top << "\" x2=\"" << left + plot_width << "\" y2=\""
      << top + plot_height << "\"/>\n</g>\n";
  svg << "<g font-size=\"12\" fill=\"#333\">\n";
  for (int t = 0; t <= value_ticks; ++t) {
    const double ops = max_ops * t / value_ticks;
    const double p99 = max_p99 * t / value_ticks;
    const double y = c.y_ops(ops);
    svg << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + plot_width << "\" y2=\"" << y
        << "\" stroke=\"#eee\"/>\n"
        << "<text x=\"" << left - 8 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << tick_text(ops) << "</text>\n"
        << "<text x=\"" << left + plot_width + 8 << "\" y=\"" << y + 4 << "\">" << tick_text(p99) << "</text>\n";
  }
  for (double n : clients) {
    svg << "<text x=\"" << c.x(n) << "\" y=\"" << top + plot_height + 18 << "\" text-anchor=\"middle\">" << tick_text(n)
        << "</text>\n";
  }
  svg << "<text x=\"" << left + plot_width / 2 << "\" y=\"" << height - 18
      << "\" text-anchor=\"middle\">concurrent clients (log scale)</text>\n"
      << "<text transform=\"translate(18," << top + plot_height / 2
      << ") rotate(-90)\" text-anchor=\"middle\">throughput (ops/s), solid</text>\n"
      << "<text transform=\"translate(" << width - 14 << "," << top + plot_height / 2
      << ") rotate(90)\" text-anchor=\"middle\">p99 latency (ms), dashed</text>\n</g>\n";
}

void draw_series(std::ostream& svg, const canvas& c, client_place place, const std::vector<series_point>& points) {
  const char* colour = colour_of(place);
  std::ostringstream ops_line;
  std::ostringstream p99_line;
  for (const series_point& p : points) {
    ops_line << c.x(p.clients) << "," << c.y_ops(p.ops_per_second) << " ";
    p99_line << c.x(p.clients) << "," << c.y_p99(p.p99_ms) << " ";
  }
  svg << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" points=\"" << ops_line.str()
      << "\"/>\n"
      << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" stroke-dasharray=\"6,4\" points=\""
      << p99_line.str() << "\"/>\n";
  for (const series_point& p : points) {
    svg << "<circle cx=\"" << c.x(p.clients) << "\" cy=\"" << c.y_ops(p.ops_per_second) << "\" r=\"4\" fill=\""
        << colour << "\"><title>" << tick_text(p.clients) << " clients: " << format_count(p.ops_per_second)
        << " ops/s</title></circle>\n"
        << "<rect x=\"" << c.x(p.clients) - 4 << "\" y=\"" << c.y_p99(p.p99_ms) - 4
        << "\" width=\"8\" height=\"8\" fill=\"white\" stroke=\"" << colour << "\" stroke-width=\"2\"><title>"
        << tick_text(p.clients) << " clients: p99 " << format_fixed(p.p99_ms, 2) << " ms</title></rect>\n";
  }
}

void draw_legend(std::ostream& svg, const std::map<client_place, std::vector<series_point>>& series) {
  double x = left + 10;
  for (const auto& [place, points] : series) {
    const std::string name = place == client_place::leader ? "clients in the leader's process" : "clients over TCP";
    svg << "<rect x=\"" << x << "\" y=\"" << top - 22 << "\" width=\"14\" height=\"4\" fill=\"" << colour_of(place)
        << "\"/>\n<text x=\"" << x + 20 << "\" y=\"" << top - 16 << "\" font-size=\"12\" fill=\"#333\">" << name
        << "</text>\n";
    x += 230;
  }
}

std::string title_of(const bench_options& o) {
  return "coraft-bench: " + std::string(to_string(o.mode)) + ", " + std::to_string(o.nodes) + " nodes, log in " +
         (o.leveldb ? "LevelDB (sync)" : "memory") + ", " + std::to_string(o.payload_bytes) + " B commands";
}

}  // namespace

std::string plot_svg(const bench_report& report) {
  std::map<client_place, std::vector<series_point>> series;
  std::set<double> clients;
  double max_ops = 0;
  double max_p99 = 0;
  for (const point_result& point : report.points) {
    if (point.offered_rate > 0) continue;
    const series_point p{static_cast<double>(point.clients), point.load.ops_per_second(),
                         static_cast<double>(point.load.latency.value_at_percentile(99)) / 1e6};
    series[point.place].push_back(p);
    clients.insert(p.clients);
    max_ops = std::max(max_ops, p.ops_per_second);
    max_p99 = std::max(max_p99, p.p99_ms);
  }
  for (auto& [place, points] : series) {
    std::sort(points.begin(), points.end(),
              [](const series_point& a, const series_point& b) { return a.clients < b.clients; });
  }
  max_ops = nice_ceiling(max_ops);
  max_p99 = nice_ceiling(max_p99);
  const canvas c(clients.empty() ? 1 : *clients.begin(), clients.empty() ? 1 : *clients.rbegin(), max_ops, max_p99);

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">"
      << escape(title_of(report.options)) << "</text>\n";
  draw_axes(svg, c, clients, max_ops, max_p99);
  for (const auto& [place, points] : series) draw_series(svg, c, place, points);
  draw_legend(svg, series);
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace coraft::bench
