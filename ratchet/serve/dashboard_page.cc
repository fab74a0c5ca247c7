#include "ratchet/serve/dashboard_page.h"

namespace ratchet {
namespace {

// Every value from the store reaches the page through textContent, never as
// markup: descriptions, diffs and prompts are text written by proposers.
constexpr std::string_view kPage = R"page(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ratchet serve</title>
<style>
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2933;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header h1{font-size:18px;margin:0}header a{color:#9fd3ff}header select{font-size:14px}
main{max-width:1280px;margin:0 auto;padding:12px 20px}
h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:120px}
.card b{display:block;font-size:17px}.card span{color:#666;font-size:12px}
.panel{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px;margin:8px 0}
svg{display:block;width:100%;height:auto}
table{border-collapse:collapse;font-size:13px;width:100%;background:#fff}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;position:sticky;top:0;cursor:pointer;user-select:none}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr[data-seq]{cursor:pointer}tr[data-seq]:hover td{background:#f3f8ff}
.st{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px}
.reason{color:#666;font-size:12px}.muted{color:#888}.differs td{background:#fff3c4}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px;max-height:420px;white-space:pre-wrap}
.bar{display:inline-block;height:10px;background:#4f7cac;vertical-align:middle}
.error{background:#fde8e8;border:1px solid #e0a0a0;padding:6px 10px;border-radius:4px}
</style></head><body>
<header><h1>ratchet</h1><select id="runs"></select><a id="compare-link" href="#/compare">compare runs</a>
<span id="updated" class="muted"></span></header>
<main id="view"><p class="muted">loading…</p></main>
<script>
"use strict";
const COLORS={accepted:"#1a7f37",rejected:"#8c959f",crashed:"#cf222e",timeout:"#bc4c00",invalid:"#8250df",
  duplicate:"#57606a",interrupted:"#bf8700",proposed:"#0969da",running:"#0969da",evaluating:"#0969da"};
const LINE_COLORS=["#0969da","#cf222e","#1a7f37","#8250df","#bc4c00","#57606a"];
const SVG="http://www.w3.org/2000/svg";
let state={runs:[],runsAt:0,sort:{key:"seq",dir:-1},timer:null,busy:false};

function el(tag,attrs,...children){const e=document.createElement(tag);
  for(const [k,v] of Object.entries(attrs||{})){if(k==="class")e.className=v;else if(k.startsWith("on"))e.addEventListener(k.slice(2),v);else e.setAttribute(k,v);}
  for(const c of children){if(c===null||c===undefined)continue;e.append(c instanceof Node?c:String(c));}return e;}
function svg(tag,attrs,...children){const e=document.createElementNS(SVG,tag);
  for(const [k,v] of Object.entries(attrs||{}))e.setAttribute(k,v);for(const c of children)if(c)e.append(c);return e;}
function fmt(v,digits){if(v===null||v===undefined||Number.isNaN(v))return "-";if(typeof v!=="number")return String(v);
  return Number(v.toPrecision(digits||6)).toString();}
function dur(s){if(s===null||s===undefined)return "-";if(s<100)return s.toFixed(1)+" s";if(s<6000)return (s/60).toFixed(1)+" min";return (s/3600).toFixed(2)+" h";}
function chip(status){return el("span",{class:"st",style:"background:"+(COLORS[status]||"#555")},status);}
function card(value,label){return el("div",{class:"card"},el("b",{},value),el("span",{},label));}
function better(goal,a,b){return goal==="maximize"?a>b:a<b;}
async function get(url){const r=await fetch(url,{cache:"no-store"});const body=await r.json();
  if(!r.ok)throw new Error(body.error||r.statusText);return body;}

// A line chart: series [{name,color,points:[[x,y]...],dots,step}], axis titles.
function chart(series,opts){
  const W=opts.width||1200,H=opts.height||340,L=64,R=16,T=12,B=40;
  const pts=series.flatMap(s=>s.points.filter(p=>p[1]!==null&&Number.isFinite(p[1])));
  const root=svg("svg",{viewBox:"0 0 "+W+" "+H,class:opts.cls||"chart"});
  if(!pts.length){root.append(svg("text",{x:W/2,y:H/2,"text-anchor":"middle",fill:"#888"},document.createTextNode(opts.empty||"no data yet")));return root;}
  let x0=Math.min(...pts.map(p=>p[0])),x1=Math.max(...pts.map(p=>p[0]));
  let y0=Math.min(...pts.map(p=>p[1])),y1=Math.max(...pts.map(p=>p[1]));
  if(opts.x0!==undefined)x0=opts.x0;if(x1<=x0)x1=x0+1;if(y1<=y0){y0-=0.5;y1+=0.5;}
  const pad=(y1-y0)*0.05;y0-=pad;y1+=pad;
  const px=x=>L+(W-L-R)*(x-x0)/(x1-x0),py=y=>T+(H-T-B)*(y1-y)/(y1-y0);
  root.append(svg("rect",{x:L,y:T,width:W-L-R,height:H-T-B,fill:"#fff",stroke:"#ccc"}));
  for(const t of ticks(x0,x1,8).filter(t=>!opts.integerX||Number.isInteger(t)))root.append(svg("text",{x:px(t),y:H-B+16,"text-anchor":"middle",fill:"#555","font-size":12},document.createTextNode(short(t))));
  for(const t of ticks(y0,y1,6)){root.append(svg("line",{x1:L,x2:W-R,y1:py(t),y2:py(t),stroke:"#eee"}));
    root.append(svg("text",{x:L-6,y:py(t)+4,"text-anchor":"end",fill:"#555","font-size":12},document.createTextNode(fmt(t,4))));}
  root.append(svg("text",{x:(L+W-R)/2,y:H-6,"text-anchor":"middle",fill:"#333","font-size":12},document.createTextNode(opts.xTitle||"")));
  root.append(svg("text",{transform:"translate(14 "+(T+H-B)/2+") rotate(-90)","text-anchor":"middle",fill:"#333","font-size":12},document.createTextNode(opts.yTitle||"")));
  series.forEach((s,i)=>{const ok=s.points.filter(p=>p[1]!==null&&Number.isFinite(p[1]));
    if(s.line!==false&&ok.length){let d="";ok.forEach((p,k)=>{const X=px(p[0]).toFixed(1),Y=py(p[1]).toFixed(1);
      d+=(k?(s.step?"H"+X+"V"+Y:"L"+X+","+Y):"M"+X+","+Y);});
      if(s.step&&ok.length)d+="H"+px(x1).toFixed(1);
      root.append(svg("path",{d:d,fill:"none",stroke:s.color,"stroke-width":1.8}));}
    if(s.dots)for(const p of ok){const c=svg("circle",{cx:px(p[0]),cy:py(p[1]),r:p[2]&&p[2].big?5:3.5,fill:p[2]&&p[2].color||s.color});
      if(p[2]&&p[2].title)c.append(svg("title",{},document.createTextNode(p[2].title)));
      if(p[2]&&p[2].seq!==undefined){c.setAttribute("data-seq",p[2].seq);c.style.cursor="pointer";c.addEventListener("click",()=>go(p[2].href));}
      root.append(c);}
    if(s.name&&series.length>1){const y=T+14+i*16;root.append(svg("line",{x1:W-R-220,x2:W-R-200,y1:y-4,y2:y-4,stroke:s.color,"stroke-width":3}));
      root.append(svg("text",{x:W-R-194,y:y,fill:"#333","font-size":12},document.createTextNode(s.name)));}});
  return root;}
function ticks(a,b,n){const span=b-a,step0=Math.pow(10,Math.floor(Math.log10(span/n)));let step=step0;
  for(const f of [1,2,5,10]){if(span/(step0*f)<=n){step=step0*f;break;}}
  const out=[];for(let t=Math.ceil(a/step)*step;t<=b+step*1e-9;t+=step)out.push(t);return out;}
function short(v){const a=Math.abs(v);if(a>=1e6)return fmt(v/1e6,3)+"M";if(a>=1e4)return fmt(v/1e3,3)+"k";return fmt(v,4);}

function progressChart(run,experiments){
  const series=[],dots=[],best=[];let running=null;
  for(const e of experiments){if(e.metric===null)continue;
    dots.push([e.seq,e.metric,{color:COLORS[e.status]||"#555",big:e.status==="accepted",seq:e.seq,
      href:"#/run/"+encodeURIComponent(run.tag)+"/exp/"+e.seq,title:"#"+e.seq+" "+e.status+" "+fmt(e.metric)+" "+e.description}]);
    if(e.status==="accepted"&&(running===null||better(run.goal,e.metric,running))){running=e.metric;best.push([e.seq,e.metric]);}}
  series.push({name:"running best",color:"#1a7f37",points:best,step:true});
  series.push({name:"experiments",color:"#8c959f",points:dots,dots:true,line:false});
  return chart(series,{x0:0,integerX:true,xTitle:"experiment",yTitle:run.metric+" ("+(run.goal==="maximize"?"higher":"lower")+" is better)",cls:"progress"});}

function lossChart(curve,title){const pts=(curve&&curve.points)||[];
  return chart([{name:title||"training loss",color:"#0969da",points:pts}],{x0:0,xTitle:curve?curve.x:"tokens",yTitle:"training loss",height:260,empty:"no training log yet"});}

function experimentsTable(run,experiments){
  const cols=[["seq","#",true],["status","status"],["metric",run.metric,true],["spread","± sd",true],["n","n",true],
    ["duration","duration",true],["params","params (vs baseline)"],["description","change"],["reason","reason"]];
  const rows=experiments.map(e=>Object.assign({duration:e.ended_at?e.ended_at-e.started_at:null,
    params:Object.entries(e.changed||{}).map(([k,v])=>k+"="+(typeof v==="number"?fmt(v,4):JSON.stringify(v))).join(", ")},e));
  const {key,dir}=state.sort;
  rows.sort((a,b)=>{const x=a[key],y=b[key];if(x===y)return 0;if(x===null||x===undefined)return 1;if(y===null||y===undefined)return -1;
    return (x<y?-1:1)*dir;});
  const head=el("tr",{},...cols.map(([k,label])=>el("th",{"data-key":k,onclick:()=>{state.sort={key:k,dir:state.sort.key===k?-state.sort.dir:1};refresh();}},
    label+(key===k?(dir>0?" ▲":" ▼"):""))));
  const body=el("tbody",{});
  for(const e of rows){const tr=el("tr",{"data-seq":e.seq,onclick:()=>go("#/run/"+encodeURIComponent(run.tag)+"/exp/"+e.seq)},
    el("td",{class:"num"},e.seq),el("td",{},chip(e.status),e.phase?el("span",{class:"muted"}," "+e.phase):null),
    el("td",{class:"num"},fmt(e.metric)),el("td",{class:"num"},e.n>1?fmt(e.spread,3):""),el("td",{class:"num"},e.n),
    el("td",{class:"num"},dur(e.duration)),el("td",{class:"reason"},e.params),el("td",{},e.description),el("td",{class:"reason"},e.reason||""));
    body.append(tr);}
  return el("table",{id:"experiments"},el("thead",{},head),body);}

function effectsTable(effects){
  if(!effects.length)return el("p",{class:"muted"},"Not enough measured experiments with search-space parameters yet.");
  const body=el("tbody",{});
  for(const f of effects){let detail;
    if(f.kind==="correlation")detail="rank correlation with the metric "+fmt(f.rho,2)+(f.rho>0?" (higher values, higher metric)":" (higher values, lower metric)");
    else detail=f.values.map(v=>v.value+": "+fmt(v.mean,4)+" (n "+v.n+")").join(" · ");
    body.append(el("tr",{},el("td",{},f.param),el("td",{},el("span",{class:"bar",style:"width:"+Math.round(120*f.strength)+"px"}),
      " "+fmt(f.strength,2)),el("td",{class:"num"},f.n),el("td",{},detail)));}
  return el("table",{id:"effects"},el("thead",{},el("tr",{},el("th",{},"parameter"),el("th",{},"strength"),el("th",{},"n"),el("th",{},"what the runs say"))),body);}

async function renderRun(tag){
  const data=await get("/api/run?tag="+encodeURIComponent(tag));const run=data.run;const view=el("main",{id:"view"});
  view.append(el("div",{class:"cards"},card(run.state,"run "+run.tag+" ("+run.spec+")"),card(fmt(run.baseline),"baseline "+run.metric),
    card(fmt(run.best),"best"+(run.best_seq!==null?" (experiment "+run.best_seq+")":"")),card(run.experiments,"experiments"),
    card(run.accepted,"accepted"),card(fmt(run.experiments_per_hour,3),"experiments / hour"),card(fmt(run.noise_sd,3),"noise sd"),
    card(run.budget+" "+(run.budget_kind==="time"?"s":"tokens"),"budget"),card(run.hardware||"-","hardware")));
  view.append(el("h2",{},"Progress"),el("div",{class:"panel"},progressChart(run,data.experiments)));
  const f=data.inflight;
  view.append(el("h2",{},"In flight"));
  if(f)view.append(el("div",{class:"panel",id:"inflight"},el("div",{},el("b",{},"#"+f.seq+" "),chip(f.status)," "+f.phase+" · "+dur(f.elapsed)+" · "+(f.description||"")),
    lossChart(f.curve,"#"+f.seq)));
  else view.append(el("p",{class:"muted",id:"inflight"},run.state==="running"?"between experiments":"nothing: the run is "+run.state));
  view.append(el("h2",{},"Experiments ("+data.experiments.length+")"),experimentsTable(run,data.experiments));
  view.append(el("h2",{},"Parameters' effects"),effectsTable(data.effects));
  return view;}

async function renderExperiment(tag,seq){
  const e=await get("/api/experiment?tag="+encodeURIComponent(tag)+"&seq="+seq);const view=el("main",{id:"view"});
  view.append(el("p",{},el("a",{href:"#/run/"+encodeURIComponent(tag)},"← run "+tag)));
  view.append(el("h2",{},"Experiment "+e.seq+": ",chip(e.status)," "+(e.description||"")));
  view.append(el("div",{class:"cards"},card(fmt(e.metric),"metric"),card(e.n>1?fmt(e.spread,3):"-","± sd"),card(e.n,"measurements"),
    card(e.proposer,"proposer"),card((e.commit||"-").slice(0,10),"commit")));
  if(e.reason)view.append(el("p",{},el("b",{},"decision: "),e.reason));
  if(e.decision)view.append(el("details",{},el("summary",{},"the decision's numbers"),el("pre",{},JSON.stringify(e.decision,null,2))));
  const curves=e.curves.map((c,i)=>({name:"measurement "+c.repeat,color:LINE_COLORS[i%LINE_COLORS.length],points:c.curve.points}));
  view.append(el("h2",{},"Training loss"),el("div",{class:"panel"},chart(curves,{x0:0,xTitle:e.curves.length?e.curves[0].curve.x:"tokens",
    yTitle:"training loss",height:260,empty:"no training log"})));
  const mt=el("tbody",{});for(const m of e.measurements)mt.append(el("tr",{},el("td",{class:"num"},m.repeat),el("td",{},m.role),el("td",{class:"num"},m.seed),
    el("td",{},m.status),el("td",{class:"num"},fmt(m.metric)),el("td",{class:"num"},dur(m.train_seconds)),el("td",{class:"num"},dur(m.eval_seconds)),el("td",{class:"num"},m.tokens===null?"-":m.tokens)));
  view.append(el("h2",{},"Measurements"),el("table",{id:"measurements"},el("thead",{},el("tr",{},...["#","role","seed","status","metric","train","evaluate","tokens"].map(h=>el("th",{},h)))),mt));
  if(e.diff!==null)view.append(el("h2",{},"Diff"),el("pre",{id:"diff"},e.diff||"(no change)"));
  for(const [name,text] of Object.entries(e.logs))view.append(el("h2",{},"Log tail: "+name),el("pre",{},text));
  if(e.prompt!==undefined){view.append(el("h2",{},"Prompt and reply"),el("details",{},el("summary",{},"prompt"),el("pre",{},e.prompt)),
    el("details",{open:""},el("summary",{},"reply"),el("pre",{},e.reply)));}
  return view;}

async function renderCompare(tags){
  const view=el("main",{id:"view"});view.append(el("h2",{},"Compare runs"));
  const picks=el("p",{});for(const r of state.runs){const box=el("input",{type:"checkbox"});box.checked=tags.includes(r.tag);
    box.addEventListener("change",()=>{const next=state.runs.map(x=>x.tag).filter(t=>t===r.tag?box.checked:tags.includes(t));go("#/compare/"+next.map(encodeURIComponent).join(","));});
    picks.append(el("label",{},box," "+r.tag+" "));}
  view.append(picks);
  if(tags.length<1){view.append(el("p",{class:"muted"},"Pick runs to see them side by side."));return view;}
  const c=await get("/api/compare?tags="+tags.map(encodeURIComponent).join(","));
  for(const n of c.not_comparable)view.append(el("p",{class:"error"},n.a+" and "+n.b+" are not comparable: "+n.why));
  const series=c.runs.map((r,i)=>{let best=null;const pts=[];for(const p of r.points){if(p.status==="accepted"&&p.metric!==null&&(best===null||better(r.goal,p.metric,best))){best=p.metric;pts.push([p.seq,p.metric]);}}
    return {name:r.tag,color:LINE_COLORS[i%LINE_COLORS.length],points:pts,step:true};});
  view.append(el("div",{class:"panel"},chart(series,{x0:0,integerX:true,xTitle:"experiment",yTitle:"running best"})));
  const head=el("tr",{},el("th",{},""),...c.runs.map(r=>el("th",{},r.tag)));const body=el("tbody",{});
  for(const [label,key] of [["spec","spec"],["hardware","hardware"],["budget","budget"],["budget kind","budget_kind"],["experiments","experiments"],["accepted","accepted"],["baseline","baseline"],["best","best"]])
    body.append(el("tr",{},el("th",{},label),...c.runs.map(r=>el("td",{},fmt(r[key])))));
  const keys=new Set();const flat=c.runs.map(r=>{const f={};(function walk(o,p){if(o&&typeof o==="object"&&!Array.isArray(o)){for(const k in o)walk(o[k],p?p+"."+k:k);}else{f[p]=JSON.stringify(o);keys.add(p);}})(r.best_config,"");return f;});
  for(const k of [...keys].sort()){const vals=flat.map(f=>f[k]);const tr=el("tr",{class:new Set(vals).size>1?"differs":""},el("td",{},k),...vals.map(v=>el("td",{},v===undefined?"(unset)":v)));body.append(tr);}
  view.append(el("table",{id:"compare"},el("thead",{},head),body));
  return view;}

function parseRoute(){const h=decodeURIComponent(location.hash.slice(1));let m;
  if((m=h.match(/^\/run\/(.+)\/exp\/(\d+)$/)))return {kind:"exp",tag:m[1],seq:m[2]};
  if((m=h.match(/^\/run\/(.+)$/)))return {kind:"run",tag:m[1]};
  if((m=h.match(/^\/compare\/?(.*)$/)))return {kind:"compare",tags:m[1]?m[1].split(",").filter(Boolean):[]};
  return {kind:"run",tag:state.runs.length?state.runs[0].tag:""};}
function go(hash){if(location.hash===hash)refresh();else location.hash=hash;}

async function refresh(){if(state.busy)return;state.busy=true;
  // The run list (every run of the store, loaded whole) changes slowly: every 15 s is enough.
  try{if(!state.runs.length||Date.now()-state.runsAt>15000){state.runs=await get("/api/runs");state.runsAt=Date.now();}
    const route=parseRoute();
    const select=document.getElementById("runs");select.replaceChildren(...state.runs.map(r=>el("option",{value:r.tag},r.tag+" ("+r.state+", "+r.experiments+" experiments)")));
    if(route.tag)select.value=route.tag;
    let view;if(!state.runs.length)view=el("main",{id:"view"},el("p",{},"This workspace has no runs yet."));
    else if(route.kind==="exp")view=await renderExperiment(route.tag,route.seq);
    else if(route.kind==="compare")view=await renderCompare(route.tags);
    else view=await renderRun(route.tag);
    const scroll=window.scrollY;document.getElementById("view").replaceWith(view);window.scrollTo(0,scroll);
    document.getElementById("updated").textContent="updated "+new Date().toLocaleTimeString();}
  catch(err){document.getElementById("view").replaceChildren(el("p",{class:"error"},String(err.message||err)));}
  finally{state.busy=false;}}

document.getElementById("runs").addEventListener("change",ev=>go("#/run/"+encodeURIComponent(ev.target.value)));
window.addEventListener("hashchange",refresh);
refresh();state.timer=setInterval(refresh,2000);
</script></body></html>
)page";

}  // namespace

std::string_view DashboardHtml() { return kPage; }

}  // namespace ratchet
