import { requestGpu } from '/work/main/src/gpu/node.ts';
import { BertGpu } from '/work/main/src/model/forward.ts';
import { NigEngine } from '/work/main/src/ig/engine.ts';
import { mulberry32 } from '/work/main/tools/make-tiny-bert.ts';
const SH: Record<string, number[]> = { tiny: [2,128,2,512], mid: [4, 256, 4, 1024] };
const g = await requestGpu();
for (const sh of ['tiny']) for (const mode of ['hf', 'unit']) {
  const [L,C,NH,F] = SH[sh]; const V = 1000; const u = mulberry32(3); const rn = () => Math.sqrt(-2*Math.log(1-u()))*Math.cos(2*Math.PI*u());
  const t = (shp:number[], f:()=>number) => { const d = new Float32Array(shp.reduce((a,b)=>a*b,1)); for (let i=0;i<d.length;i++) d[i]=f(); return {shape:shp,data:d}; };
  const wsd = (inp:number) => mode==='hf'?0.02: mode==='unit'? 1/Math.sqrt(inp) : 0.5/Math.sqrt(inp);
  const esd = mode==='hf'?0.02:1;
  const lin = (o:number,i:number) => [t([o,i],()=>wsd(i)*rn()), t([o],()=>0.02*rn())];
  const ln = () => [t([C],()=>1+0.05*rn()), t([C],()=>0.05*rn())];
  const layers:any[] = [];
  for (let l=0;l<L;l++){const [qW,qB]=lin(C,C),[kW,kB]=lin(C,C),[vW,vB]=lin(C,C),[aoW,aoB]=lin(C,C),[ln1G,ln1B]=ln(),[iW,iB]=lin(F,C),[oW,oB]=lin(C,F),[ln2G,ln2B]=ln(); layers.push({qW,qB,kW,kB,vW,vB,aoW,aoB,ln1G,ln1B,iW,iB,oW,oB,ln2G,ln2B});}
  const we = t([V,C],()=>esd*rn()); we.data.fill(0,0,C);
  const [embLnG,embLnB]=ln(),[poolW,poolB]=lin(C,C),[clsW,clsB]=lin(2,C);
  const w:any = {config:{vocabSize:V,hidden:C,layers:L,heads:NH,intermediate:F,maxPositions:512,typeVocab:2,eps:1e-12,numLabels:2,padTokenId:0}, wordEmb:we,posEmb:t([512,C],()=>esd*rn()),typeEmb:t([2,C],()=>esd*rn()),embLnG,embLnB,layers,poolW,poolB,clsW,clsB};
  const eng = new NigEngine(await BertGpu.create(g,w), {clsId:101,sepId:102,padId:0,maskId:103,unkId:100});
  for (const T of [64]) for (const s of [1,2,3]) {
    const uu = mulberry32(s*31+T); const q=Math.min(32,T/4); const ids = Array.from({length:T},()=>104+Math.floor(uu()*(V-104))); ids[0]=101; ids[q]=102; ids[T-1]=102;
    const pair = {ids, typeIds: ids.map((_,i)=>i>q?1:0), sep1:q};
    const out:string[]=[];
    for (const m of [8, 50]) { const r = await eng.attribute(pair,{steps:m}); const dF=r.F[m]-r.F[0]; const inc=Array.from({length:m},(_,k)=>r.F[k+1]-r.F[k]); const mx=Math.max(...inc.map(Math.abs)); const pred=(inc[m-1]-inc[0])/2; out.push(`m${m} dF=${dF.toExponential(2)} d=${r.igDelta.toExponential(2)} pred=${pred.toExponential(2)} maxstep=${mx.toExponential(2)} dh=${Math.max(...r.hiddenDeltas.map(Math.abs)).toExponential(2)} emb=${(Math.abs(r.igDelta)/Math.abs(dF)).toExponential(1)} hid=${(Math.max(...r.hiddenDeltas.map(Math.abs))/Math.abs(dF)).toExponential(1)}`); }
    console.log(sh, mode, T, s, out.join(' | '));
  }
}
process.exit(0);
